-- Order versions, renamed and cast only: one row per raw.orders row (every version of every order).
select
    cast(order_id as {{ dbt.type_string() }})              as order_id,
    cast(customer_id as {{ dbt.type_string() }})           as customer_id,
    cast(checkout_id as {{ dbt.type_string() }})           as checkout_id,
    cast(created_at as {{ dbt.type_timestamp() }})         as created_at,
    cast(updated_at as {{ dbt.type_timestamp() }})         as updated_at,
    cast(channel as {{ dbt.type_string() }})               as channel,
    cast(order_type as {{ dbt.type_string() }})            as order_type,
    cast(status as {{ dbt.type_string() }})                as status,
    cast(plan as {{ dbt.type_string() }})                  as plan,
    cast(deployment as {{ dbt.type_string() }})            as deployment,
    cast(seats as {{ dbt.type_int() }})                    as seats,
    cast(amount as decimal(38, 6))                         as amount,
    cast(currency as {{ dbt.type_string() }})              as currency,
    cast(manual_intervention as {{ dbt.type_boolean() }})  as manual_intervention,
    cast(intervention_reason as {{ dbt.type_string() }})   as intervention_reason,
    cast(_loaded_at as {{ dbt.type_timestamp() }})         as _loaded_at
from {{ source('raw', 'orders') }}
