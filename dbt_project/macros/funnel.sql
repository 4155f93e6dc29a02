{#- The funnel's steps, in order (kpi-definitions.md "The funnel"). Step 6 comes from orders. -#}
{% macro funnel_step_names() -%}
    {{ return([
        'checkout_started',
        'subscription_details_completed',
        'billing_address_completed',
        'payment_method_completed',
        'order_submitted',
        'order_placed',
    ]) }}
{%- endmacro %}

{#- `ts` + the conversion window (var conversion_window_days), as a timestamp. -#}
{% macro window_end(ts) -%}
    {{ add_interval('day', var('conversion_window_days') | int, ts) }}
{%- endmacro %}

{#- is_new_customer of a checkout started at `started_at` whose customer's first placed order was
    created at `first_order_created_at` (NULL: none): no placed order before t1. -#}
{% macro is_new_customer(first_order_created_at, started_at) -%}
    case
        when {{ first_order_created_at }} is not null and {{ first_order_created_at }} < {{ started_at }} then false
        else true
    end
{%- endmacro %}

{#- The start of the `grain` period (day, week = ISO week from Monday, month) holding `ts`, as a DATE. -#}
{% macro period_start_of(grain, ts) -%}
    cast({{ dbt.date_trunc(grain, ts) }} as date)
{%- endmacro %}


{#- A categorical value as the marts code it when absent: 'unknown' (segment dimensions, error codes).
    The one home of that rule in the dbt project. -#}
{% macro value_or_unknown(column) -%}
    coalesce({{ column }}, 'unknown')
{%- endmacro %}
