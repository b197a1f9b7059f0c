"""Digit Lab's Streamlit dashboard: `streamlit run dashboard/app.py` (pages in views/, components in components/)."""
