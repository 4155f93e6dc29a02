"""The KPI dashboard (Streamlit): entry `dashboards/app.py`, served by `dashboards.launch.serve`."""
