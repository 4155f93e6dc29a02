"""SQL (analysts): read-only queries over the published warehouse, with a schema browser."""

import io

import pyarrow.csv as pacsv
import streamlit as st

from dashboards import connections, data, ui
from pipelines.core.sql_guard import QueryError, QueryRefused, QueryTimeout, run_readonly_query

EXAMPLES = {
    "Weekly KPIs, latest 12 weeks": "SELECT *\nFROM marts.kpi_weekly\nORDER BY period_start DESC\nLIMIT 12",
    "Funnel of the latest complete monthly cohort": (
        "SELECT f.step_number, f.step_name, f.checkouts, f.new_customer_checkouts\n"
        "FROM marts.funnel_steps f\nJOIN marts.kpi_monthly k ON k.period_start = f.period_start\n"
        "WHERE f.grain = 'month' AND k.cohort_complete\n"
        "  AND f.period_start = (SELECT max(period_start) FROM marts.kpi_monthly WHERE cohort_complete)\n"
        "ORDER BY f.step_number"),
    "Conversion by plan and device": (
        "SELECT plan, device, count(*) AS checkouts, avg(CASE WHEN converted THEN 1 ELSE 0 END) AS conversion\n"
        "FROM marts.fct_checkouts\nGROUP BY ALL\nORDER BY checkouts DESC"),
    "Top payment error codes": (
        "SELECT error_code, sum(checkouts) AS checkouts, sum(failures) AS failures\n"
        "FROM marts.dash_payment_failures\nGROUP BY ALL\nORDER BY checkouts DESC"),
    "Manual-intervention reasons": (
        "SELECT intervention_reason, count(*) AS orders\nFROM marts.fct_orders\n"
        "WHERE is_self_service AND manual_intervention\nGROUP BY ALL\nORDER BY orders DESC"),
    "Files rejected or with rejected rows": (
        "SELECT source, file_path, status, reason, rows_read, rows_rejected\nFROM audit.load_ledger\n"
        "WHERE status = 'rejected' OR rows_rejected > 0"),
}

st.title("SQL")
st.caption("Read-only: the warehouse's published copy is opened read-only with file access disabled and "
           "settings locked; writes, DDL, ATTACH, COPY, INSTALL/LOAD, file or URL reads and SET are refused.")
st.markdown("Every model, column, test and metric: the [dbt docs site](http://127.0.0.1:8580) (start it with `funnel docs`); any KPI by any dimension without SQL: `funnel metrics` (docs/metrics.md).")
ui.no_data_notice(stop=False)

left, right = st.columns([5, 6])  # wide enough for the columns' descriptions
with left:
    st.subheader("Schema")
    schema = data.schema()
    tables = data.schema_tables(schema)
    if tables:
        ui.url_choice("sql_table", "table", tables, data.SCHEMA_FIRST_TABLE if data.SCHEMA_FIRST_TABLE in tables else None)
        chosen = st.selectbox("Table", tables, key="sql_table")
        s, t = chosen.split(".", 1)
        cols = schema[(schema.table_schema == s) & (schema.table_name == t)]
        # the description before the type: in this narrow column it is what one reads
        shown = ("column_name", "description", "data_type")
        ui.dataframe(cols[list(shown)], height=320,
                     column_config={c: st.column_config.TextColumn(ui.header(c), width=w)
                                    for c, w in zip(shown, ("medium", "large", "small"), strict=True)})
with right:
    example = st.selectbox("Example queries", ["(none)", *EXAMPLES], key="sql_example")
    if example != "(none)" and st.session_state.get("sql_loaded_example") != example:
        st.session_state["sql_text"] = EXAMPLES[example]
        st.session_state["sql_loaded_example"] = example
    ui.url_text("sql_text", "q")
    sql = st.text_area("Query", key="sql_text", height=180,
                       placeholder="Write a read-only query (SELECT, SHOW TABLES, DESCRIBE ...), or pick an example above")
    c1, c2, c3 = st.columns([1, 1, 1])
    row_limit = c1.number_input("Row limit", min_value=1, max_value=100_000, value=5_000, step=1_000,
                                key="sql_row_limit")
    time_limit = c2.number_input("Time limit (s)", min_value=1, max_value=300, value=30, key="sql_time_limit")
    run = c3.button("Run", type="primary", key="sql_run", icon=":material/play_arrow:")

    if run and not sql.strip():
        st.warning("The query box is empty: write a query or pick an example above, then Run.",
                   icon=":material/edit:")
    elif run:
        st.session_state.pop("sql_result", None)
        try:
            result, truncated = run_readonly_query(connections.published_path(), sql, int(row_limit), float(time_limit))
        except QueryRefused as exc:
            st.error(ui.sentence(str(exc)), icon=":material/block:")
        except QueryTimeout as exc:
            st.error(ui.sentence(str(exc)), icon=":material/timer_off:")
        except QueryError as exc:
            st.error(f"Query failed: {exc}")
        except FileNotFoundError as exc:
            st.error(str(exc))
        else:
            st.session_state["sql_result"] = (result, truncated)
    if "sql_result" in st.session_state:
        result, truncated = st.session_state["sql_result"]
        st.caption(f"{result.num_rows:,} rows" + (f" (cut at the row limit of {int(row_limit):,})" if truncated else ""))
        ui.dataframe(result)
        buf = io.BytesIO()
        pacsv.write_csv(result, buf)
        st.download_button("Download result.csv", buf.getvalue(), file_name="result.csv", mime="text/csv",
                           key="download_result", icon=":material/download:")
