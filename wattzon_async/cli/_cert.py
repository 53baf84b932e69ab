"""``wattzon cert``: make the key and CSR WattzOn asks for, and check a certificate's expiry.

WattzOn issues client certificates for a CSR and they expire after a year, so renewals
are a yearly chore done by hand; these two commands make it hard to get wrong: the key is
written 0600 and never overwritten by accident, and ``cert check`` gives monitoring an
exit code (0 valid, 3 expired or not yet valid) and a warning line well before expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._tls._context import WARN_DAYS, CertificateInfo
from ..certs import inspect_certificate, write_csr
from ._context import Context
from ._errors import CliError, ExitCode
from ._output import record_table

__all__ = ["cert_check", "cert_csr", "certificate_state", "expiry_text"]


def cert_csr(ctx: Context) -> int:
    """``wattzon cert csr``: write a new private key (0600) and a CSR for it."""
    args = ctx.args
    key, csr = Path(args.key_out), Path(args.csr_out)
    write_csr(
        key,
        csr,
        args.common_name,
        organization=args.organization,
        email=args.email,
        force=args.force,
    )
    data = {"key": key, "csr": csr, "common_name": args.common_name}
    ctx.out.show(data, lambda: _csr_instructions(key, csr))
    return ExitCode.OK


def _csr_instructions(key: Path, csr: Path) -> list[str]:
    crt = key.with_suffix(".crt")
    return [
        f"Wrote {key}: the private key (mode 0600). Keep it secret; it never leaves this",
        "  machine, not even to WattzOn. Back it up somewhere safe.",
        f"Wrote {csr}: the certificate signing request. Send this file to WattzOn.",
        f"WattzOn sends back a certificate (e.g. {crt.name}). Then use it with:",
        f"  export WATTZON_CERT={crt}",
        f"  export WATTZON_KEY={key}",
        f"and check it with: wattzon cert check {crt}",
    ]


def certificate_state(info: CertificateInfo, now: datetime | None = None) -> str:
    """``"valid"``, ``"expiring"`` (under WARN_DAYS left), ``"expired"`` or ``"not_yet_valid"``.

    Args:
        info: The certificate.
        now: The moment to judge at (default: now).

    Returns:
        The state's name.
    """
    now = now or datetime.now(UTC)
    if now > info.not_after:
        return "expired"
    if now < info.not_before:
        return "not_yet_valid"
    return "expiring" if info.days_left_at(now) < WARN_DAYS else "valid"


def cert_check(ctx: Context) -> int:
    """``wattzon cert check [PATH]``: subject, issuer, expiry; exit 3 unless valid now."""
    path = ctx.args.path or ctx.environ.get("WATTZON_CERT")
    if not path:
        raise CliError("cert check: give a certificate file, or set WATTZON_CERT", ExitCode.USAGE)
    password = ctx.option("key_password") or ctx.environ.get("WATTZON_KEY_PASSWORD")
    info = inspect_certificate(path, key_password=password)
    now = datetime.now(UTC)
    state = certificate_state(info, now)
    days = info.days_left_at(now)
    data: dict[str, Any] = {
        "path": path,
        "state": state,
        "valid": state in ("valid", "expiring"),
        "subject": info.subject,
        "issuer": info.issuer,
        "not_before": info.not_before,
        "not_after": info.not_after,
        "days_left": days,
        "serial_number": info.serial_number,
        "fingerprint_sha256": info.fingerprint_sha256,
    }
    ctx.out.show(data, lambda: _check_table(info, path, expiry_text(info, now)))
    if state == "expiring":
        ctx.out.warn(
            f"the certificate expires in {_days(days)} "
            f"({info.not_after:%Y-%m-%d}); make a CSR with `wattzon cert csr` and send "
            "it to WattzOn for a renewed one"
        )
    if state == "expired":
        raise CliError(
            f"the certificate in {path} expired on {info.not_after:%Y-%m-%d %H:%M} UTC",
            ExitCode.CERTIFICATE,
        )
    if state == "not_yet_valid":
        raise CliError(
            f"the certificate in {path} is not valid until {info.not_before:%Y-%m-%d %H:%M} UTC",
            ExitCode.CERTIFICATE,
        )
    return ExitCode.OK


def expiry_text(info: CertificateInfo, now: datetime) -> str:
    """How far expiry is from ``now``, for people: ``199 days``, ``expired 1 day ago``.

    Args:
        info: The certificate.
        now: The moment to count from.

    Returns:
        Whole days as :meth:`CertificateInfo.days_left_at` counts them; under a day, hours.
    """
    days = info.days_left_at(now)
    if days:
        return _days(days) if days > 0 else f"expired {_days(-days)} ago"
    hours = int(abs((info.not_after - now).total_seconds()) // 3600)
    within = f"{hours} hour{'s' if hours != 1 else ''}" if hours else "less than an hour"
    return f"expired {within} ago" if now > info.not_after else f"{within} (expires today)"


def _days(days: int) -> str:
    return f"{days} day{'s' if days != 1 else ''}"


def _check_table(info: CertificateInfo, path: str, left: str) -> Any:
    return record_table(
        [
            ("Subject", info.subject),
            ("Issuer", info.issuer),
            ("Not before", f"{info.not_before:%Y-%m-%d %H:%M} UTC"),
            ("Not after", f"{info.not_after:%Y-%m-%d %H:%M} UTC"),
            ("Days to expiry", left),
            ("SHA-256", info.fingerprint_sha256),
        ],
        title=f"Certificate {path}",
    )
