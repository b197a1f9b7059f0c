"""Archive (seed 002's upload service): every digit classified in this browser, newest first, with each
model's answer and the true digit where the user said it; each model's accuracy on that handwriting;
downloadable as CSV and as a zip of the 28×28 images. Kept on the server per browser
(:func:`dashboard.common.session_archive`)."""

import pandas as pd
import streamlit as st

from core.explore.archive import MAX_AGE_DAYS, MAX_BROWSERS, MAX_ENTRIES, MAX_TOTAL_BYTES
from dashboard.common import html_text, png_data_uri, session_archive

st.title("Archive")
archive = session_archive()
st.markdown("Every digit drawn or uploaded on the **Draw a digit** page in this browser, and every digit "
            "of a number on the **Read a number** page, with what each model read (seed 002's upload service keeps "
            "such an archive). A drawing is one entry (a number, one per digit) however many times the models "
            "answered while it grew or its noise changed; **Clear canvas** starts the next one.")
st.caption(f"**What is kept, where, for how long.** The pictures as the models saw them (28×28), the answers, the "
           f"noise, the time and the true digits you give, up to {MAX_ENTRIES} digits (the oldest are dropped first), "
           "on the Digit Lab server, under a random id that only this browser holds (kept in its local storage and "
           "a cookie): it is still here after a reload or a restart of this browser, and no other browser, private "
           "window or person can see it. It is kept until you clear it, or until it has not changed for "
           f"{MAX_AGE_DAYS} days; when the server holds more than {MAX_BROWSERS:,} browsers' archives or "
           f"{MAX_TOTAL_BYTES // 1024 ** 2} MB, those changed longest ago are removed first. Clearing this browser's "
           "site data starts a new, empty archive. Download what you want to keep for good.")
if archive.problem:
    st.warning(archive.problem)

if not len(archive):
    st.info("Nothing classified yet in this browser: draw or upload a digit on the **Draw a digit** page, or a number "
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

st.subheader("Accuracy on your handwriting")
scores = archive.truth_tally()
if scores:
    rows = "".join(f'<tr data-label="{html_text(label)}"><td>{html_text(label)}</td><td>{right}</td><td>{n}</td>'
                   f"<td>{100 * right / n:.0f} %</td></tr>" for label, right, n in scores)
    st.html('<table class="dl-table" data-testid="archive-accuracy"><thead><tr><th>model</th><th>read right</th>'
            f"<th>n (digits with a true digit)</th><th>accuracy</th></tr></thead><tbody>{rows}</tbody></table>")
    st.caption("Over the digits whose true digit you said (on the Draw page, or in the table below) and that the "
               "model read; a few digits say little: with n = 10, one digit more or less right moves the accuracy "
               "by 10 points. The CSV has the true digit in its last column.")
else:
    st.info("Say which digit each drawing really is (on the **Draw a digit** page as you draw, or in the "
            "**true digit** column below) to see each model's accuracy on your handwriting.")

numbered = list(reversed(archive.numbered()))
rows = []
for number, entry in numbered:
    answers = " · ".join(f"{html_text(label)}: <b>{digit}</b> ({p:.2f})" for label, (digit, p) in entry.answers.items())
    rows.append(f'<tr data-number="{number}"><td>{number}</td>'
                f'<td><img class="dl-img" alt="digit {number}" width="56" height="56" src="{png_data_uri(entry.image)}"></td>'
                f"<td>{html_text(entry.time.replace('T', ' ').replace('+00:00', ' UTC'))}</td>"
                f"<td>{html_text(entry.source)}{'<br>' + html_text(entry.noise) if entry.noise else ''}</td>"
                f"<td>{answers}</td><td class=\"dl-truth\">{'' if entry.truth is None else entry.truth}</td></tr>")
st.caption(f"{len(archive)} digit{'s' if len(archive) != 1 else ''}, newest first.")
st.html('<div class="dl-table-wrap"><table class="dl-table" data-testid="archive-table"><thead><tr><th>#</th>'
        "<th>what the models saw</th><th>time</th><th>source</th><th>answers (probability)</th><th>true digit</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")

st.subheader("Enter the true digits")
version = st.session_state.setdefault("archive_truth_version", 0)
editor_key = f"archive_truths_{version}"
shown = [number for number, _ in numbered]


def save_truths() -> None:
    """The editor's callback: write the edited true digits into the archive, then show a fresh editor."""
    edits = st.session_state.get(editor_key, {}).get("edited_rows", {})
    for row, change in edits.items():
        if "true digit" in change and 0 <= int(row) < len(shown):
            value = change["true digit"]
            archive.set_truth(shown[int(row)], None if value is None or pd.isna(value) else int(value))
    st.session_state["archive_truth_version"] = version + 1


table = pd.DataFrame({
    "#": shown,
    "picture": [png_data_uri(entry.image, scale=2) for _, entry in numbered],
    "read by": [" · ".join(f"{label}: {digit}" for label, (digit, _) in entry.answers.items()) for _, entry in numbered],
    "true digit": pd.array([entry.truth for _, entry in numbered], dtype="Int64"),
})
st.data_editor(table, key=editor_key, on_change=save_truths, hide_index=True, disabled=["#", "picture", "read by"],
               column_config={
                   "picture": st.column_config.ImageColumn("picture", width="small"),
                   "true digit": st.column_config.SelectboxColumn("true digit", options=list(range(10)),
                                                                  help="The digit this really is (empty: not said)"),
               }, width="stretch")
