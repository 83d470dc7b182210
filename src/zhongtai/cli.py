"""The `zhongtai` command: serve, migrate, tenant create, demo, relay, bench."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import typer
import uvicorn
from rich.console import Console

from zhongtai.platform.config import load_settings
from zhongtai.platform.db import Database
from zhongtai.platform.errors import ProblemError
from zhongtai.platform.uow import UnitOfWork

app = typer.Typer(help="Zhongtai retail middle platform", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (retailers) on this platform")
app.add_typer(tenant_app, name="tenant")
catalog_app = typer.Typer(help="Bulk import and export of the catalogue")
app.add_typer(catalog_app, name="catalog")
data_app = typer.Typer(help="Data platform: import purchase history, the CDNOW demo")
app.add_typer(data_app, name="data")
console = Console()


def _db() -> Database:
    return Database(load_settings())


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from zhongtai.platform.migrate import upgrade

    db = _db()
    upgrade(db.engine)
    console.print(f"[green]migrated[/] {db.dialect} database")


@tenant_app.command("create")
def tenant_create(
    name: str,
    admin: str = typer.Option(..., help="username of the first administrator"),
    password: str = typer.Option(..., help="their password (8+ chars, letters and digits)"),
    display_name: str = typer.Option("", help="shown name; defaults to NAME"),
) -> None:
    """Create a tenant with its HQ unit, built-in roles and first administrator."""
    from zhongtai.org.service import create_tenant

    try:
        tenant_id = create_tenant(_db(), name, admin, password, display_name)
    except ProblemError as exc:
        console.print(f"[red]error:[/] {exc.detail}")
        raise typer.Exit(1) from exc
    console.print(f"[green]tenant {name} created[/] id={tenant_id} admin={admin}")


def _tenant_uow(db: Database, tenant: str) -> UnitOfWork:
    from zhongtai.org.service import tenant_id_of

    tenant_id = tenant_id_of(db, tenant)
    if tenant_id is None:
        console.print(f"[red]error:[/] no tenant {tenant}")
        raise typer.Exit(1)
    return UnitOfWork(db, tenant_id)


@catalog_app.command("import")
def catalog_import(
    file: Path,
    tenant: str = typer.Option(..., help="tenant name"),
    dry_run: bool = typer.Option(False, help="validate only"),
) -> None:
    """Import products, SKUs, barcodes and prices from CSV or XLSX: all rows or none."""
    from rich.progress import Progress

    from zhongtai.catalog import importer

    db = _db()
    with Progress(console=console) as bar:
        task = bar.add_task("reading", total=None)
        table = importer.read_table(file.read_bytes(), file.name)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        try:
            with _tenant_uow(db, tenant) as uow:
                report = importer.run(uow, table, dry_run=dry_run, progress=progress)
                uow.commit()
        except ProblemError as exc:
            bar.stop()
            console.print(f"[red]rejected:[/] {exc.detail}")
            for err in (exc.errors or [])[:50]:
                console.print(f"  row {err['row']}: {err['field']}: {err['message']}")
            raise typer.Exit(1) from exc
    console.print(report.model_dump_json(indent=2))


@catalog_app.command("export")
def catalog_export(file: Path, tenant: str = typer.Option(..., help="tenant name")) -> None:
    """Export every SKU as import rows (.csv or .xlsx by the file's name)."""
    from zhongtai.catalog import importer

    with _tenant_uow(_db(), tenant) as uow:
        rows = importer.export(uow)
    fmt = "xlsx" if file.suffix.lower() == ".xlsx" else "csv"
    file.write_bytes(importer.write_table(rows, fmt))
    console.print(f"exported {len(rows)} SKUs to {file}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    collector_only: bool = typer.Option(
        False, help="only sign-in and /v1/events (a collector tier beside the full server)"
    ),
) -> None:
    """Run the HTTP server (and the event relay)."""
    from zhongtai.platform.observability import configure_logging

    if collector_only:
        os.environ["ZT_COLLECTOR_ONLY"] = "1"  # read by each worker's app factory
    settings = load_settings()
    if workers > 1 and not settings.clickhouse_url and not settings.collector_only:
        # Embedded chDB lets one process own its folder: several workers need a server.
        console.print(
            "[red]error:[/] several workers need ZT_CLICKHOUSE_URL (a ClickHouse server),"
            " or --collector-only"
        )
        raise typer.Exit(2)
    configure_logging()
    uvicorn.run(
        "zhongtai.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
    )


def _import_log(
    db: Database, tenant: str, file: Path, source: str, products: Path | None = None
) -> Any:
    from rich.progress import Progress

    from zhongtai.data import importer

    with _tenant_uow(db, tenant) as probe:
        tenant_id = probe.tenant_id
    try:
        if products is not None:
            purchases = list(importer.read_complete_journey(file, products))
        else:
            with file.open() as lines:
                purchases = list(importer.read_cdnow(lines))
    except importer.BadLine as exc:
        console.print(f"[red]rejected:[/] {exc}")
        raise typer.Exit(1) from exc
    with Progress(console=console) as bar:
        task = bar.add_task("importing", total=None)

        def progress(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        return importer.load(db, tenant_id, purchases, source, progress)


@data_app.command("import")
def data_import(
    file: Path,
    tenant: str = typer.Option(..., help="tenant name"),
    source: str = typer.Option("cdnow", help="the log's name: prefixes cards and order ids"),
    products: Path | None = typer.Option(
        None, help="with dunnhumby's Complete Journey: its products .rda (FILE: transactions)"
    ),
) -> None:
    """Import a purchase log: CDNOW's text (customer, YYYYMMDD, units, value), or with
    --products dunnhumby's The Complete Journey (.rda: a basket is a purchase at its store
    and time, its lines the items with their categories). Members by their old customer
    number, purchases as events for the ingester (zhongtai relay)."""
    report = _import_log(_db(), tenant, file, source, products)
    console.print(report.model_dump_json(indent=2))


CDNOW = Path(__file__).resolve().parents[3] / "shared" / "cases" / "sales" / "CDNOW_master.txt"


@data_app.command("cdnow-demo")
def cdnow_demo(
    file: Path = typer.Option(CDNOW, help="CDNOW_master.txt"),
    tenant: str = typer.Option("cdnow", help="tenant to create or reuse"),
) -> None:
    """CDNOW (1997-98): import it, ingest, compute RFM, lifecycle and BG/NBD tags as of
    1998-07-01, and print what they say. Run with the server stopped (it owns chDB)."""
    from datetime import UTC, datetime

    from zhongtai.data.collector import service as collector
    from zhongtai.data.oneid import service as oneid
    from zhongtai.demo_behaviour import cdnow_tags
    from zhongtai.org.service import create_tenant, tenant_id_of
    from zhongtai.platform.migrate import upgrade

    db = _db()
    upgrade(db.engine)
    if tenant_id_of(db, tenant) is None:
        create_tenant(db, tenant, "admin", "cdnow-pass-2026", "CDNOW (public purchase log)")
    console.print(_import_log(db, tenant, file, "cdnow").model_dump_json(indent=2))
    with console.status("ingesting through OneID into the warehouse"):
        while collector.ingest(db) or oneid.flush_mappings(db):
            pass
    until = datetime(1998, 7, 1, tzinfo=UTC)
    with _tenant_uow(db, tenant) as uow:
        for out in cdnow_tags(uow, until):
            values = ", ".join(f"{v.value}: {v.persons}" for v in out.values)
            console.print(f"[bold]{out.code}[/] ({out.name}) {values}")
            if out.fitted:
                console.print(f"  fitted: {out.fitted}")
        uow.commit()


@app.command()
def demo(host: str = "127.0.0.1", port: int = 8000, serve_after: bool = True) -> None:
    """Migrate the embedded database, load demo data once, then serve."""
    from zhongtai import demo as demo_data
    from zhongtai.org.service import tenant_id_of
    from zhongtai.platform.migrate import upgrade

    db = _db()
    upgrade(db.engine)
    if tenant_id_of(db, demo_data.DEMO_TENANT) is None:
        with console.status("loading demo data"):
            demo_data.load(db)
    db.dispose()
    user, password = demo_data.DEMO_ADMIN
    console.print(f"[bold]Zhongtai[/] on http://{host}:{port}  (API docs: /docs)")
    console.print(
        f"demo login: tenant=[cyan]{demo_data.DEMO_TENANT}[/] "
        f"username=[cyan]{user}[/] password=[cyan]{password}[/]"
    )
    console.print(
        f"store manager: username=[cyan]{demo_data.DEMO_MANAGER[0]}[/] "
        f"password=[cyan]{demo_data.DEMO_MANAGER[1]}[/]"
    )
    if serve_after:
        serve(host=host, port=port)


@app.command()
def relay(until_idle: bool = typer.Option(False, help="stop when nothing is left to send")) -> None:
    """Run the outbox relay on its own (events to consumers, webhooks and NATS)."""
    from zhongtai.api import RELAY_JOBS, load_plugins
    from zhongtai.platform.observability import configure_logging
    from zhongtai.platform.relay import Relay

    configure_logging()
    settings = load_settings()
    load_plugins(settings)
    worker = Relay(Database(settings), settings, RELAY_JOBS)

    async def run() -> None:
        try:
            if until_idle:
                await worker.run_until_idle()
            else:
                await worker.run_forever(asyncio.Event())
        finally:
            await worker.close()

    asyncio.run(run())


@app.command()
def bench(
    name: str,
    quick: bool = typer.Option(False, help="a small run, as CI does"),
    bench_dir: Path = typer.Option(Path("bench"), help="folder holding the benchmarks"),
) -> None:
    """Run the benchmark NAME from bench/ and print its JSON result last."""
    from zhongtai.benchrun import run_named

    run_named(name, quick=quick, bench_dir=bench_dir, console=console)
