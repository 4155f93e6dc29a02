{#- `column_name` is unique over the whole model, probed with the keys of the rows `new_rows` selects
    (an incremental model: the rows its latest build wrote, `_inputs_loaded_at = __latest_build__`).
    A key the build wrote twice, or one that is also on an older row (a delete+insert that left the
    old row), fails; the history is read for that one column, with no aggregate over every key
    (a `unique` test on the whole table groups every key: ~0.5 s per fact at 10M events). NULL keys
    are the `not_null` test's. Name it `unique_<model>_<column>` in the yml. -#}
{% test unique_in_history(model, column_name, new_rows) %}
select history.{{ column_name }}, count(*) as n_rows
from {{ model }} as history
where history.{{ column_name }} in (select {{ column_name }} from {{ model }} where {{ latest_build_rows(new_rows, model) }})
group by history.{{ column_name }}
having count(*) > 1
{% endtest %}
