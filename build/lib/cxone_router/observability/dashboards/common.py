"""Building blocks shared by the dashboards: data source, variables, targets, panels, layout.

Every panel and target reads the `${datasource}` variable; the only variables expressions
use are `$channel` and `$__rate_interval`. Panel ids and grid positions are fixed by the
order of the sections, so the same SLO file gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as viz
from grafana_foundation_sdk.models import dashboard as model

TAG = "cxone-router"
DATASOURCE_UID = "${datasource}"
PROVISIONED_DATASOURCE = ("Prometheus", "cxr-prometheus")
CHANNEL = 'channel=~"$channel"'
RATE = "$__rate_interval"
GRID_WIDTH = 24

PanelBuilder = timeseries.Panel | stat.Panel
Steps = Sequence[tuple[float, str]]


@dataclass(frozen=True)
class Target:
    """One query of a panel: its legend and its PromQL."""

    legend: str
    expr: str
    dashed: bool = False


@dataclass(frozen=True)
class Section:
    """A row and the panels under it, `per_line` side by side (widths fill the grid)."""

    title: str
    panels: Sequence[PanelBuilder]
    per_line: int = 2
    height: int = 8


def datasource() -> model.DataSourceRef:
    return model.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)


def number(value: float) -> str:
    """A threshold or target as people write it (1.0 -> "1", 99.9 -> "99.9")."""
    return f"{value:g}"


def histogram_quantile(quantile: float, metric: str, by: str, selector: str = "") -> str:
    matchers = f"{{{selector}}}" if selector else ""
    return (f"histogram_quantile({number(quantile)}, sum by ({by}) "
            f"(rate({metric}_bucket{matchers}[{RATE}])))")


def _query(target: Target, ref_id: str, instant: bool) -> prometheus.Dataquery:
    query = (prometheus.Dataquery().expr(target.expr).legend_format(target.legend)
             .ref_id(ref_id).datasource(datasource()))
    return query.instant() if instant else query.range()


def _ref_id(index: int) -> str:
    return chr(ord("A") + index)


def thresholds(base: str, steps: Steps) -> dash.ThresholdsConfig:
    """Absolute thresholds: `base` below the first step; steps sorted by value."""
    ordered = [model.Threshold(value=None, color=base)]
    ordered += [model.Threshold(value=value, color=color) for value, color in sorted(steps)]
    return dash.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE).steps(ordered)


def timeseries_panel(title: str, description: str, unit: str, targets: Sequence[Target],
                     steps: Steps = (), base: str = "green",
                     soft_min: float | None = 0) -> timeseries.Panel:
    """A time series; `steps`, when given, are drawn as dashed threshold lines."""
    panel = (timeseries.Panel().title(title).description(description).datasource(datasource())
             .unit(unit).line_width(1).fill_opacity(10).show_points(viz.VisibilityMode.NEVER)
             .legend(common_builders.VizLegendOptions()
                     .display_mode(viz.LegendDisplayMode.LIST)
                     .placement(viz.LegendPlacement.BOTTOM).show_legend(True))
             .tooltip(common_builders.VizTooltipOptions()
                      .mode(viz.TooltipDisplayMode.MULTI).sort(viz.SortOrder.DESCENDING))
             .thresholds(thresholds(base, steps)))
    if soft_min is not None:
        panel.axis_soft_min(soft_min)
    if steps:
        panel.thresholds_style(common_builders.GraphThresholdsStyleConfig()
                               .mode(viz.GraphThresholdsStyleMode.DASHED))
    for index, target in enumerate(targets):
        panel.with_target(_query(target, _ref_id(index), instant=False))
        if target.dashed:
            panel.override_by_query(_ref_id(index), [model.DynamicConfigValue(
                id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]})])
    return panel


def stat_panel(title: str, description: str, unit: str, targets: Sequence[Target],
               steps: Steps = (), base: str = "green",
               mappings: Sequence[model.ValueMapping] = ()) -> stat.Panel:
    """The latest value of each series, coloured by `steps`."""
    panel = (stat.Panel().title(title).description(description).datasource(datasource())
             .unit(unit).thresholds(thresholds(base, steps))
             .color_mode(viz.BigValueColorMode.BACKGROUND)
             .graph_mode(viz.BigValueGraphMode.NONE)
             .text_mode(viz.BigValueTextMode.VALUE_AND_NAME)
             .justify_mode(viz.BigValueJustifyMode.AUTO)
             .orientation(viz.VizOrientation.AUTO)
             .reduce_options(common_builders.ReduceDataOptions().values(False)
                             .calcs(["lastNotNull"]).fields("")))
    if mappings:
        panel.mappings(list(mappings))
    for index, target in enumerate(targets):
        panel.with_target(_query(target, _ref_id(index), instant=True))
    return panel


def _datasource_variable() -> dash.DatasourceVariable:
    name, uid = PROVISIONED_DATASOURCE
    return (dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
            .current(model.VariableOption(selected=True, text=name, value=uid)))


def _channel_variable() -> dash.QueryVariable:
    return (dash.QueryVariable("channel").label("Channel").datasource(datasource())
            .query("label_values(cxr_end_to_end_latency_seconds_count, channel)")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .multi(True).include_all(True).all_value(".*")
            .current(model.VariableOption(selected=True, text=["All"], value=["$__all"])))


def _number_panels(built: model.Dashboard) -> None:
    """Grafana wants a unique id per panel; the SDK leaves them unset (rows get 0)."""
    next_id = 1
    for panel in built.panels or []:
        panel.id_val = next_id
        next_id += 1
        if isinstance(panel, model.RowPanel):
            for nested in panel.panels:
                nested.id_val = next_id
                next_id += 1


def _widths(count: int, per_line: int) -> list[int]:
    widths: list[int] = []
    for start in range(0, count, per_line):
        on_line = min(per_line, count - start)
        width = GRID_WIDTH // on_line
        widths += [width] * (on_line - 1) + [GRID_WIDTH - width * (on_line - 1)]
    return widths


def build_dashboard(uid: str, title: str, description: str, sections: Sequence[Section],
                    annotations: Sequence[dash.AnnotationQuery] = ()) -> model.Dashboard:
    """A dashboard of expanded rows, each followed by its panels laid out line by line,
    with `annotations` drawn on its graphs."""
    builder = (dash.Dashboard(title).uid(uid).description(description).tags([TAG])
               .timezone("browser").time("now-1h", "now").refresh("30s")
               .tooltip(model.DashboardCursorSync.CROSSHAIR)
               .with_variable(_datasource_variable()).with_variable(_channel_variable())
               .link(dash.DashboardLink("cxone-router").type(model.DashboardLinkType.DASHBOARDS)
                     .tags([TAG]).as_dropdown(True).include_vars(True).keep_time(True)))
    for annotation in annotations:
        builder.annotation(annotation)
    for section in (s for s in sections if s.panels):
        # Panels added to the dashboard after a row sit in that row, which stays expanded;
        # `Row.with_panel` would collapse it.
        builder.with_row(dash.Row(section.title))
        for panel, width in zip(section.panels, _widths(len(section.panels), section.per_line),
                                strict=True):
            builder.with_panel(panel.span(width).height(section.height))
    built = builder.build()
    _number_panels(built)
    return built


def to_dict(built: model.Dashboard) -> dict[str, Any]:
    """The dashboard as plain JSON types (enums and SDK objects encoded)."""
    document: dict[str, Any] = json.loads(json.dumps(built, cls=JSONEncoder))
    return document


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
