"""Archive (seed 002's upload service): every digit classified in this browser session, newest first,
with each model's answer; downloadable as CSV and as a zip of the 28×28 images."""

import streamlit as st

from dashboard.common import html_text, png_data_uri, session_archive

st.title("Archive")
archive = session_archive()
st.markdown("Every digit drawn or uploaded on the **Draw a digit** page in this browser session, and every digit "
            "of a number on the **Read a number** page, with what each model read (seed 002's upload service keeps "
            "such an archive). A drawing is one entry (a number, one per digit) however many times the models "
            "answered while it grew; **Clear canvas** starts the next one. "
            "The archive belongs to this session only: nobody else sees it, and it is gone when the tab is closed or "
            "reloaded (download it first).")

if not len(archive):
    st.info("Nothing classified yet in this session: draw or upload a digit on the **Draw a digit** page, or a number "
            "on **Read a number**.")
    st.stop()

left, middle, right = st.columns([2, 2, 3])
left.download_button("Download CSV", archive.to_csv(), file_name="digitlab-archive.csv", mime="text/csv",
                     icon=":material/table:", key="archive_csv")
middle.download_button("Download images (zip)", archive.to_zip(), file_name="digitlab-archive.zip",
                       mime="application/zip", icon=":material/folder_zip:", key="archive_zip")
if right.button("Clear the archive", icon=":material/delete:", key="archive_clear"):
    archive.clear()
    st.rerun()

rows = []
for number, entry in reversed(archive.numbered()):
    answers = " · ".join(f"{html_text(label)}: <b>{digit}</b> ({p:.2f})" for label, (digit, p) in entry.answers.items())
    rows.append(f'<tr data-number="{number}"><td>{number}</td>'
                f'<td><img class="dl-img" alt="digit {number}" width="56" height="56" src="{png_data_uri(entry.image)}"></td>'
                f"<td>{html_text(entry.time.replace('T', ' ').replace('+00:00', ' UTC'))}</td>"
                f"<td>{html_text(entry.source)}{'<br>' + html_text(entry.noise) if entry.noise else ''}</td>"
                f"<td>{answers}</td></tr>")
st.caption(f"{len(archive)} digit{'s' if len(archive) != 1 else ''}, newest first.")
st.html('<div class="dl-table-wrap"><table class="dl-table" data-testid="archive-table"><thead><tr><th>#</th>'
        "<th>what the models saw</th><th>time</th><th>source</th><th>answers (probability)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>")
