"""The `zhongtai` command: serve, migrate, tenant create, demo, relay, bench."""

from __future__ import annotations

import asyncio
from pathlib import Path

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
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the HTTP server (and the event relay)."""
    from zhongtai.platform.observability import configure_logging

    configure_logging()
    uvicorn.run(
        "zhongtai.api:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
    )


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
