"""``ckan dataclic extract | jobs | purge | refresh``: extraction from the command line."""
from __future__ import annotations

import json

import ckan.plugins.toolkit as tk
import click


@click.command("extract")
@click.argument("resource_id")
@click.option("-t", "--perimeter", required=True, help="kind:code, e.g. epci:243300316")
@click.option("--mode", type=click.Choice(["filter", "intersects", "clip", "stats"]))
@click.option("--format", "fmt", default="csv", show_default=True,
              type=click.Choice(["csv", "geojson", "gpkg", "shp", "parquet", "netcdf",
                                 "geotiff"]))
@click.option("--out-crs", help="Output CRS (default EPSG:4326)")
@click.option("--enrich", is_flag=True, help="Add commune, EPCI, département, région columns")
@click.option("--variables", help="Grid: variables to use, comma-separated (default all)")
@click.option("--labels", multiple=True, metavar="DIM=LABEL[,LABEL…]",
              help="Grid: keep only these labels of a dimension (repeatable)")
@click.option("--threshold", help="Grid stats: also the share of the area above / below")
@click.option("--wide", is_flag=True, help="Grid stats in CSV: one row per commune")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Run it here (also when large) rather than enqueue a background job")
def extract(resource_id: str, perimeter: str, mode: str | None, fmt: str,
            out_crs: str | None, enrich: bool, variables: str | None,
            labels: tuple[str, ...], threshold: str | None, wide: bool, wait: bool) -> None:
    """Extract RESOURCE_ID for a perimeter, as the dataclic_extract action does."""
    from ckanext.dataclic.extract.errors import ExtractionError
    from ckanext.dataclic.extract.grid.selection import parse_labels
    from ckanext.dataclic.extraction import service

    try:
        chosen_labels = parse_labels(labels) or None
    except ExtractionError as error:
        raise click.ClickException(error.render(service.translate)) from error
    try:
        resource = service.show_resource(resource_id)
        request = service.ExtractionRequest(resource=resource, perimeter=perimeter, format=fmt,
                                            mode=mode, out_crs=out_crs, enrich=enrich,
                                            variables=variables, labels=chosen_labels,
                                            threshold=threshold, wide=wide)
        record, cached = service.request_extraction(request, inline=True if wait else None)
    except tk.ObjectNotFound as error:
        raise click.ClickException(tk._("Resource not found")) from error
    except tk.ValidationError as error:
        raise click.ClickException(
            "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in error.error_dict.items())
        ) from error
    except service.SourceError as error:
        raise click.ClickException(str(error)) from error
    view = service.record_view(record, cached=cached)
    click.echo(json.dumps(view, ensure_ascii=False, indent=2))
    if record["status"] == "done" and record.get("path"):
        click.echo(tk._("Result: {path}").format(path=record["path"]), err=True)
    if record["status"] == "failed":
        raise click.ClickException(view["error"] or tk._("The extraction failed"))


@click.command("jobs")
@click.option("--all", "show_all", is_flag=True, help="Also the finished ones")
@click.option("--limit", default=50, show_default=True)
def jobs(show_all: bool, limit: int) -> None:
    """List running, queued and failed extractions (stale ones are failed first)."""
    from ckanext.dataclic.extraction import service
    from ckanext.dataclic.model import extraction as store

    expired = service.expire_stale()
    if expired:
        click.echo(tk._("{count} extraction(s) whose worker died or whose job was lost: "
                        "queued again or failed").format(count=len(expired)))
    statuses = None if show_all else ("queued", "running", "failed")
    records = store.list_extractions(statuses=statuses, limit=limit)
    if not records:
        click.echo(tk._("No extraction"))
    for record in records:
        done, total = record["progress_done"], record["progress_total"]
        progress = f"{done}/{total}" if total else str(done)
        line = (f"{record['id']}  {record['status']:<7}  {record['created']:%Y-%m-%d %H:%M:%S}"
                f"  {record['resource_id']}  {record['perimeter']}  {record['format']}"
                f"  {progress}")
        if record.get("error"):
            line += f"  {record['error']}"
        click.echo(line)


@click.command("purge")
@click.option("--max-age-days", type=float, help="Override ckanext.dataclic.extract.max_age_days")
@click.option("--max-total-mb", type=float,
              help="Override ckanext.dataclic.extract.max_total_mb")
def purge(max_age_days: float | None, max_total_mb: float | None) -> None:
    """Delete old extraction results, then the least recently used beyond the size cap,
    and the partial files of dead jobs."""
    from ckanext.dataclic.extraction import service

    result = service.purge(max_age_days, max_total_mb)
    click.echo(tk._("Purged {records} extraction(s), {mb:.1f} MB freed, {sources} fetched "
                    "source(s)").format(records=result.records,
                                        mb=result.bytes_freed / 1048576,
                                        sources=result.sources))
    if result.partials:
        click.echo(tk._("{count} partial file(s) of dead jobs removed").format(
            count=result.partials))


@click.command("refresh")
@click.option("--all", "refresh_all", is_flag=True, help="Every published extract")
@click.option("--dataset", "datasets", multiple=True,
              help="Published extracts in this dataset, or from this source dataset")
@click.option("--background", is_flag=True, help="Enqueue jobs instead of running here")
def refresh(refresh_all: bool, datasets: tuple[str, ...], background: bool) -> None:
    """Re-extract published extracts whose source or referential vintage changed
    (or those chosen with --all / --dataset) and update their published files."""
    from ckanext.dataclic.extraction import publication
    from ckanext.dataclic.model import extraction as store

    if refresh_all:
        items = store.list_publications()
    elif datasets:
        items = []
        for name in datasets:
            try:
                package = tk.get_action("package_show")({"ignore_auth": True}, {"id": name})
            except tk.ObjectNotFound as error:
                raise click.ClickException(
                    tk._("Dataset not found: {name}").format(name=name)) from error
            items += store.list_publications(package_id=package["id"])
            for resource in package.get("resources", []):
                items += store.list_publications(source_resource_id=resource["id"])
    else:
        items = publication.stale_publications()
    if not items:
        click.echo(tk._("Nothing to refresh"))
        return
    failed = 0
    seen = set()
    for item in items:
        if item["resource_id"] in seen:
            continue
        seen.add(item["resource_id"])
        if background:
            publication.enqueue_refresh(item["resource_id"])
            click.echo(tk._("{resource}: queued").format(resource=item["resource_id"]))
            continue
        outcome = publication.refresh(item["resource_id"], force=True)
        failed += outcome == "failed"
        message = store.get_publication(item["resource_id"]) or {}
        click.echo(f"{item['resource_id']}: {outcome}"
                   + (f" ({message.get('refresh_message')})"
                      if message.get("refresh_message") else ""))
    if failed:
        raise click.ClickException(tk._("{count} refresh(es) failed").format(count=failed))


@click.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty")
def worker(queues: tuple[str, ...], burst: bool) -> None:
    """A warm background worker: like `ckan jobs worker`, but runs each job in its own
    process without forking and reloading CKAN, so a job starts within milliseconds.

    Jobs share this process: use it for dataclic's jobs, and `ckan jobs worker` where other
    extensions' jobs need process isolation. Several may run on several machines.
    """
    from ckan.lib import jobs as ckan_jobs
    from rq.worker import SimpleWorker

    class WarmWorker(ckan_jobs.Worker):
        def execute_job(self, job, queue):  # type: ignore[override]
            return SimpleWorker.execute_job(self, job, queue)  # type: ignore[arg-type]

    WarmWorker(list(queues) or None).work(burst=burst)


# Attached to the `ckan dataclic` group by ckanext.dataclic.cli.
COMMANDS: tuple[click.Command, ...] = (extract, jobs, purge, refresh, worker)
