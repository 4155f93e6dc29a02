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

{#- The start of the `grain` period (day, week = ISO week from Monday, month) holding `ts`, as a DATE. -#}
{% macro period_start_of(grain, ts) -%}
    cast({{ dbt.date_trunc(grain, ts) }} as date)
{%- endmacro %}
