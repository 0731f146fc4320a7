"""The HTML of the ranking page (``GET /page?project=ID``): one Jinja2 template, no JavaScript.

Rendered by :func:`backend.ranking_page.render_page` with autoescape on, so a
candidate's name or a pool path cannot inject markup.  Links are relative
(``rankings?project=1``, ``page/chart.png?...``), so the page works behind a
proxy that serves the backend under a path.
"""
from __future__ import annotations

PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ headline }}: ModelPicker, project {{ project }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 62rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.5rem; margin-bottom: .3rem; }
.stop { color: #0a6b2d; } .go { color: #8a5300; }
.box { border: 1px solid #ccc; border-radius: 6px; padding: .6rem 1rem; margin: 1rem 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #e3e3e3; text-align: right; }
td.name, th.name { text-align: left; } tr.chosen { background: #eef7ee; } tr.noise td { color: #666; }
code, pre { background: #f4f4f4; padding: .1rem .3rem; border-radius: 3px; }
dt { font-weight: 600; } dd { margin: 0 0 .4rem 1rem; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
small { color: #555; }
</style>
</head>
<body>
<h1 class="{{ 'stop' if stop else 'go' }}">{{ headline }}</h1>
<p><strong>{{ decision_line }}</strong></p>
{% if bound_sentence %}<p>{{ bound_sentence }}</p>{% endif %}
{% if not up_to_date %}<p><small>{{ stale_note }}</small></p>{% endif %}

<div class="box">
<h2>{{ 'Deploy this' if stop else 'If you had to deploy now (provisional: keep labelling)' }}</h2>
<dl>
<dt>Candidate</dt><dd><strong>{{ chosen }}</strong>{% if chosen_row %}: P(best) {{ chosen_row.p_best_text }},
accuracy {{ chosen_row.accuracy_text }}{% endif %}</dd>
<dt>In the pool</dt><dd>{{ pool_file }}{% if source %}, source
{% for key, value in source %}<code>{{ key }}: {{ value }}</code>{{ ", " if not loop.last }}{% endfor %}
{% else %} (entry not readable){% endif %}</dd>
<dt>Export</dt><dd><code>python -m backend export --project {{ project }} --out DIR</code> writes
{% for name in files %}{{ name }}{{ ", " if not loop.last }}{% endfor %}; or download them:
{% for name in files %}<a href="export?project={{ project }}&amp;file={{ name }}">{{ name }}</a>
{{- ", " if not loop.last }}{% endfor %}.</dd>
</dl>
</div>

<h2>Ranking, round {{ round }}</h2>
<table>
<tr><th>rank</th><th class="name">candidate</th><th>P(best)</th>{% if ties %}<th>P(a best)</th>{% endif %}
<th>at most (points below the best, {{ level_text }})</th><th>accuracy (95% interval)</th><th>labels</th></tr>
{% for row in rows %}<tr class="{{ 'chosen' if row.name == chosen }}{{ ' noise' if not row.resolved }}">
<td>{{ row.shown_rank }}</td><td class="name">{{ row.name }}</td><td>{{ row.p_best_text }}</td>
{% if ties %}<td>{{ row.p_top_text }}</td>{% endif %}<td>{{ row.gap_text }}</td><td>{{ row.accuracy_text }}</td>
<td>{{ row.labels }}</td></tr>
{% endfor %}</table>
<p><small>P(best): the belief that the candidate is the best on this batch. "At most": the certified bound,
guaranteed for all candidates at once with probability {{ level_text }}; lower is better.
{% if noise %}P(best) below {{ resolved_p }} is Monte Carlo noise: those candidates (grey) are listed by
accuracy.{% endif %}
In Label Studio's queue, the prediction score the backend gives each task is its priority: lower = label
first.</small></p>

<h2>What the numbers count</h2>
<dl>{% for term, value, meaning in counts %}
<dt>{{ term }}: {{ value }}</dt><dd>{{ meaning }}</dd>{% endfor %}
</dl>

<h2>P(best) over labels</h2>
{% if history_rows %}<p><img src="page/chart.png?project={{ project }}&amp;round={{ round }}" width="{{ chart_width }}"
alt="P(best) of each candidate against the number of labels, round {{ round }}"></p>
<p><small>One point per refresh ({{ history_rows }} recorded in this round).</small></p>
{% else %}<p>No refresh has been recorded for round {{ round }} yet: the chart starts with the next
label.</p>{% endif %}

<h2>Downloads</h2>
<ul>
<li><a href="rankings?project={{ project }}">/rankings</a>: this ranking as JSON</li>
<li><a href="rounds?project={{ project }}">/rounds</a>: every round and its decision records</li>
<li><a href="jobs?project={{ project }}">/jobs</a>: the latest refreshes and confirmations</li>
{% for name in files %}<li><a href="export?project={{ project }}&amp;file={{ name }}">/export {{ name }}</a></li>
{% endfor %}</ul>
<p><small>Strategy {{ strategy }}, priority version {{ model_version }}; page made {{ made_at }}.</small></p>
</body>
</html>
"""
