{#- Fails for every row whose `column_name` lies outside [min_value, max_value] (either bound may be
    left out). NULL passes: a `not_null` test says whether the column may be NULL. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
  and (
    {%- if min_value is not none %} {{ column_name }} < {{ min_value }}{% endif %}
    {%- if min_value is not none and max_value is not none %} or{% endif %}
    {%- if max_value is not none %} {{ column_name }} > {{ max_value }}{% endif %}
  )
{% endtest %}
