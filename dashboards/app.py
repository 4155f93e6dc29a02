"""Entry point of the KPI dashboard: `streamlit run dashboards/app.py` (or `funnel dashboard`).

Reads the published DuckDB copy named by FUNNEL_PUBLISHED (default: beside FUNNEL_WAREHOUSE).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st

from dashboards import ui

st.set_page_config(page_title="Checkout funnel KPIs", page_icon=":material/shopping_cart:", layout="wide")

PAGES = [
    st.Page("app_pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("app_pages/funnel.py", title="Funnel", icon=":material/filter_alt:", url_path="funnel"),
    st.Page("app_pages/dropoff.py", title="Drop-off", icon=":material/trending_down:", url_path="dropoff"),
    st.Page("app_pages/intervention.py", title="Manual intervention", icon=":material/support_agent:",
            url_path="intervention"),
    st.Page("app_pages/health.py", title="Data health", icon=":material/monitor_heart:", url_path="health"),
    st.Page("app_pages/sql.py", title="SQL", icon=":material/terminal:", url_path="sql"),
]

page = st.navigation(PAGES)
ui.status_line()
page.run()
