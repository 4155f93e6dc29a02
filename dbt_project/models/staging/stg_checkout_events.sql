-- Checkout events, renamed and cast only: one row per raw.checkout_events row.
select
    cast(event_id as {{ dbt.type_string() }})       as event_id,
    cast(event_name as {{ dbt.type_string() }})     as event_name,
    cast(event_time as {{ dbt.type_timestamp() }})  as event_time,
    cast(checkout_id as {{ dbt.type_string() }})    as checkout_id,
    cast(customer_id as {{ dbt.type_string() }})    as customer_id,
    cast(plan as {{ dbt.type_string() }})           as plan,
    cast(deployment as {{ dbt.type_string() }})     as deployment,
    cast(seats as {{ dbt.type_int() }})             as seats,
    cast(country as {{ dbt.type_string() }})        as country,
    cast(device as {{ dbt.type_string() }})         as device,
    cast(error_code as {{ dbt.type_string() }})     as error_code,
    cast(_loaded_at as {{ dbt.type_timestamp() }})  as _loaded_at
from {{ source('raw', 'checkout_events') }}
