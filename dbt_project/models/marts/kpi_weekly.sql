-- The KPIs per UTC week (ISO weeks, from Monday), every week from the first to the last with activity
-- (a checkout start or a placed order's created_at), no gaps. See macros/kpi_table.sql.
{{ kpi_table('week') }}
