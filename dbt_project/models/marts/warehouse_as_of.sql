-- One row: as_of, the newest timestamp in the loaded data (greatest of every loaded event_time
-- and every loaded order updated_at, all versions), and the conversion window in days.
with latest_event as (
    select max(event_time) as latest from {{ ref('stg_checkout_events') }}
),

latest_order as (
    select max(updated_at) as latest from {{ ref('stg_orders') }}
)

select
    case
        when e.latest is null then o.latest
        when o.latest is null then e.latest
        when e.latest >= o.latest then e.latest
        else o.latest
    end as as_of,
    cast({{ var('conversion_window_days') | int }} as {{ dbt.type_int() }}) as conversion_window_days
from latest_event as e
cross join latest_order as o
