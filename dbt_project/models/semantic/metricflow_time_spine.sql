-- MetricFlow's time spine (dbt 1.11: a model with `time_spine:` in its YAML): one row per UTC day.
-- A fixed range far around any data this product holds; 36,525 rows, built in milliseconds.
{{ config(schema='marts', tags=['project_only']) }}

with bounds as (
    select cast('2000-01-01' as date) as first_day, cast('2099-12-31' as date) as last_day
),

days as (
    {{ period_series('day', 'bounds', 'first_day', 'last_day') }}
)

select period_start as date_day
from days
