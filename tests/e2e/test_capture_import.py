"""Bulk CSV import: progress, per-row errors, dedupe, and the same result as single posts."""

import asyncio
import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from capture.cli import main
from leadloop_devstack.stack import Stack
from tests.support import TopicReader, eventually, topics_holding

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

HEADER = ["E-mail", "First Name", "Last Name", "Company", "Country", "Phone", "Employees",
          "Lead Source Detail", "Opt In"]


def _csv(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


MAPPING = {"E-mail": "email", "First Name": "first_name", "Last Name": "last_name",
           "Company": "company", "Country": "country", "Phone": "phone",
           "Employees": "company_size", "Lead Source Detail": "properties.detail",
           "Opt In": "consent.email_marketing"}


async def _finished(http: httpx.AsyncClient, url: str, headers: dict[str, str]
                    ) -> dict[str, Any]:
    async def done() -> dict[str, Any]:
        r = await http.get(url, headers=headers)
        assert r.status_code == 200 and r.json()["status"] != "running", r.text
        result: dict[str, Any] = r.json()
        return result
    return await eventually(done, timeout_s=60)


async def test_import_reports_progress_errors_and_dedupes_like_submissions(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    tag = uuid.uuid4().hex[:8]
    known = f"known.{tag}@example-corp.com"
    await http.post(f"{base}/v1/leads", headers=admin_headers,
                    json={"email": known, "first_name": "Old"})
    rows = [[f"p{i}.{tag}@Example-Corp.com", f" Pat{i} ", "Lee", "Example Corp", "de",
             "030 1234567", "250", "booth", "yes"] for i in range(40)]
    rows += [[f"P0.{tag}@example-corp.com", "", "Lee-Smith", "", "", "", "", "", ""],  # dup
             [known.upper(), "New", "", "", "", "", "", "", ""],                       # update
             ["not-an-email", "X", "", "", "", "", "", "", ""],                        # bad
             [f"c.{tag}@example-corp.com", "", "", "", "Narnia", "", "-5", "", ""]]    # bad
    body = _csv(rows)
    key = {**admin_headers, "Content-Type": "text/csv", "Idempotency-Key": str(uuid.uuid4())}
    params = {"mapping": json.dumps(MAPPING), "campaign": f"fair-{tag}"}
    started = await http.post(f"{base}/v1/imports", headers=key, params=params, content=body)
    assert started.status_code == 202, started.text
    retried = await http.post(f"{base}/v1/imports", headers=key, params=params, content=body)
    assert retried.json()["import_id"] == started.json()["import_id"]

    result = await _finished(http, f"{base}/v1/imports/{started.json()['import_id']}",
                             admin_headers)
    assert result["status"] == "completed"
    assert (result["rows_total"], result["created"], result["updated"], result["failed"]) == (
        44, 40, 2, 2)
    errors = {(e["row"], e["field"]) for e in result["errors"]}
    assert errors == {(44, "email"), (45, "country"), (45, "company_size")}

    r = await http.get(f"{base}/v1/leads", params={"email": f"p0.{tag}@example-corp.com"},
                       headers=admin_headers)
    lead = r.json()["items"][0]
    assert lead["profile"]["first_name"] == "Pat0" and lead["profile"]["last_name"] == "Lee-Smith"
    assert lead["profile"]["phone"] == "+49301234567" and lead["profile"]["company_size"] == 250
    assert lead["profile"]["properties"] == {"detail": "booth"}
    assert lead["consent"]["email_marketing"] is True
    assert lead["source"] == {**lead["source"], "channel": "import", "campaign": f"fair-{tag}"}
    updated = (await http.get(f"{base}/v1/leads", params={"email": known},
                              headers=admin_headers)).json()["items"][0]
    assert updated["profile"]["first_name"] == "New"

    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        events = await reader.wait_for(lambda evs: len([
            e for e in evs if e.type == "leadloop.lead.created.v1"
            and e.data["source"].get("campaign") == f"fair-{tag}"]) == 40)
        created = {e.data["lead_id"] for e in events if e.type == "leadloop.lead.created.v1"
                   and e.data["source"].get("campaign") == f"fair-{tag}"}
        # Every new lead opted in on its row: one lead.consent_changed each, granted.
        consents = await reader.wait_for(lambda evs: {
            e.data["lead_id"] for e in evs if e.type == "leadloop.lead.consent_changed.v1"
            and e.data["lead_id"] in created} == created)
        assert all(e.data["purpose"] == "email_marketing" and e.data["granted"]
                   for e in consents if e.type == "leadloop.lead.consent_changed.v1"
                   and e.data["lead_id"] in created)


async def test_imported_rows_end_as_the_same_leads_as_posting_them_one_by_one(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    fields = ["email", "first_name", "last_name", "company", "country", "phone",
              "company_size"]
    samples = [["{e}", "  Ada ", "Lovelace", "Analytical  Engines", "gb", "020 7946 0958",
                "12"],
               ["{e}", "", "Byron", "", "", "", ""],
               ["{E}", "Augusta", "", "", "", "+44 20 7946 0000", ""],
               ["{e}", "<script>x</script>", "", "", "us", "(415) 555-0100", "0"]]

    def rows(tag: str) -> list[list[str]]:
        email = f"ada.{tag}@example-corp.com"
        return [[v.format(e=email, E=email.upper()) for v in row] for row in samples]

    imported, posted = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    r = await http.post(f"{base}/v1/imports", content=_csv(rows(imported), fields),
                        headers={**admin_headers, "Content-Type": "text/csv"})
    await _finished(http, f"{base}/v1/imports/{r.json()['import_id']}", admin_headers)
    for row in rows(posted):
        body = {k: v for k, v in zip(fields, row, strict=True) if v}
        await http.post(f"{base}/v1/leads", headers=admin_headers, json=body)

    async def profile(tag: str) -> dict[str, Any]:
        got = await http.get(f"{base}/v1/leads", params={"email": f"ada.{tag}@example-corp.com"},
                             headers=admin_headers)
        found: dict[str, Any] = got.json()["items"][0]["profile"]
        found.pop("email")
        return found
    assert await profile(imported) == await profile(posted)


async def test_imported_leads_personal_fields_are_sealed_in_kafka_like_posted_ones(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    tag = uuid.uuid4().hex[:10]
    emails = [f"sealed.{tag}.{n}@example-corp.com" for n in range(3)]
    r = await http.post(f"{stack.url('capture')}/v1/imports",
                        content=_csv([[e, "Grace", "Hopper", "", "", "", "", "", ""]
                                      for e in emails]),
                        params={"mapping": json.dumps(MAPPING)},
                        headers={**admin_headers, "Content-Type": "text/csv"})
    assert r.status_code == 202, r.text
    await _finished(http, f"{stack.url('capture')}/v1/imports/{r.json()['import_id']}",
                    admin_headers)
    # A trusted reader (holding the keys) sees every lead.created with its address...
    async with TopicReader(stack.bootstrap_servers, "leadloop.capture") as reader:
        created = await reader.wait_for(lambda evs: set(emails) <= {
            (e.data.get("profile") or {}).get("email") for e in evs
            if e.type == "leadloop.lead.created.v1"})
    assert len([e for e in created if e.type == "leadloop.lead.created.v1"
                and (e.data.get("profile") or {}).get("email") in emails]) == 3
    # ...while the raw records on the broker hold none of them in plain text.
    for email in emails:
        assert await topics_holding(stack.bootstrap_servers, email.encode()) == {}


async def test_bad_imports_are_refused(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base = stack.url("capture")
    csv_headers = {**admin_headers, "Content-Type": "text/csv"}
    wrong_type = await http.post(f"{base}/v1/imports", content=b"email\na@b.co",
                                 headers={**admin_headers, "Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    no_email = await http.post(f"{base}/v1/imports", content=b"name\nJo", headers=csv_headers)
    assert no_email.status_code == 422 and no_email.json()["errors"][0]["field"] == "mapping"
    bad_map = await http.post(f"{base}/v1/imports", content=b"mail\na@b.co", headers=csv_headers,
                              params={"mapping": json.dumps({"mail": "password"})})
    assert bad_map.status_code == 422 and "password" in bad_map.text
    bad_key = await http.post(f"{base}/v1/imports", content=b"email\na@b.co",
                              headers={**csv_headers, "Idempotency-Key": "x" * 256})
    assert bad_key.status_code == 422
    assert bad_key.json()["errors"][0]["field"] == "Idempotency-Key"
    nul = await http.post(f"{base}/v1/imports", content=b"email\na@b.co", headers=csv_headers,
                          params={"campaign": "spring\x00"})
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "campaign"
    # Every refusal is the one error shape the other routes answer (RFC 9457).
    for refused in (wrong_type, no_email, bad_map, bad_key, nul):
        assert refused.headers["content-type"] == "application/problem+json", refused.text
        assert refused.json()["status"] == refused.status_code
    unknown = await http.get(f"{base}/v1/imports/{uuid.uuid4()}", headers=admin_headers)
    assert unknown.status_code == 404


async def test_a_nul_byte_fails_only_its_row_and_the_good_rows_are_imported(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base, tag = stack.url("capture"), uuid.uuid4().hex[:8]
    body = (f"email,first_name,note\r\na.{tag}@example-corp.com,Ann,ok\r\n"
            f"b.{tag}@example-corp.com,B\x00b,ok\r\nc.{tag}@example-corp.com,Cy,n\x00\r\n"
            f"d.{tag}@example-corp.com,Di,ok\r\n").encode()
    r = await http.post(f"{base}/v1/imports", content=body,
                        headers={**admin_headers, "Content-Type": "text/csv"})
    assert r.status_code == 202, r.text
    result = await _finished(http, f"{base}/v1/imports/{r.json()['import_id']}", admin_headers)
    assert (result["status"], result["rows_total"], result["created"], result["failed"]) == (
        "completed", 4, 2, 2), result
    assert {(e["row"], e["field"]) for e in result["errors"]} == {(3, "first_name"),
                                                                 (4, "properties")}
    assert all("NUL" in e["reason"] for e in result["errors"])


async def test_a_cp1252_file_is_refused_clearly_unless_its_charset_is_declared(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base, tag = stack.url("capture"), uuid.uuid4().hex[:8]
    body = f"email,first_name,company\r\njose.{tag}@example-corp.com,José,Café Müller\r\n"
    excel = body.encode("cp1252")  # what Excel's plain "CSV" writes on Windows
    refused = await http.post(f"{base}/v1/imports", content=excel,
                              headers={**admin_headers, "Content-Type": "text/csv"})
    assert refused.status_code == 422, refused.text
    error = refused.json()["errors"][0]
    assert error["field"] == "body" and "not UTF-8" in error["reason"]
    assert "charset=windows-1252" in error["reason"]
    declared = await http.post(f"{base}/v1/imports", content=excel, headers={
        **admin_headers, "Content-Type": "text/csv; charset=windows-1252"})
    assert declared.status_code == 202, declared.text
    result = await _finished(http, f"{base}/v1/imports/{declared.json()['import_id']}",
                             admin_headers)
    assert (result["created"], result["failed"]) == (1, 0), result
    lead = (await http.get(f"{base}/v1/leads", params={"email": f"jose.{tag}@example-corp.com"},
                           headers=admin_headers)).json()["items"][0]
    assert (lead["profile"]["first_name"], lead["profile"]["company"]) == ("José", "Café Müller")
    unknown = await http.post(f"{base}/v1/imports", content=excel, headers={
        **admin_headers, "Content-Type": "text/csv; charset=klingon"})
    assert unknown.status_code == 415 and "klingon" in unknown.text


async def test_a_semicolon_separated_file_is_read_by_its_separator(
        stack: Stack, admin_headers: dict[str, str], http: httpx.AsyncClient) -> None:
    base, tag = stack.url("capture"), uuid.uuid4().hex[:8]
    body = (f"E-Mail;First Name;Company\r\nsemi.{tag}@example-corp.com;Sem;Acme, Inc.\r\n"
            ).encode("utf-8-sig")  # Excel's "CSV UTF-8" in a locale with a decimal comma
    r = await http.post(f"{base}/v1/imports", content=body,
                        params={"mapping": json.dumps({"E-Mail": "email",
                                                       "First Name": "first_name",
                                                       "Company": "company"})},
                        headers={**admin_headers, "Content-Type": "text/csv"})
    assert r.status_code == 202, r.text
    result = await _finished(http, f"{base}/v1/imports/{r.json()['import_id']}", admin_headers)
    assert (result["created"], result["failed"]) == (1, 0), result
    lead = (await http.get(f"{base}/v1/leads", params={"email": f"semi.{tag}@example-corp.com"},
                           headers=admin_headers)).json()["items"][0]
    assert (lead["profile"]["first_name"], lead["profile"]["company"]) == ("Sem", "Acme, Inc.")


async def test_leadloop_import_command_uploads_a_file_and_reports_the_outcome(
        stack: Stack, admin_headers: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    tag = uuid.uuid4().hex[:8]
    path = tmp_path / "fair.csv"
    path.write_bytes(_csv([[f"cli{i}.{tag}@example-corp.com", "Cli", "", "", "", "", "", "",
                            ""] for i in range(25)] + [["broken", "", "", "", "", "", "", "",
                                                        ""]]))
    code = await asyncio.to_thread(main, [
        "import", str(path), "--url", stack.url("capture"), "--key", stack.admin_key,
        "--mapping", json.dumps(MAPPING), "--campaign", "cli"])
    out = capsys.readouterr()
    assert code == 1, out
    assert "completed: 25 created, 0 updated, 0 unchanged, 1 failed" in out.out
    assert "row 27: email" in out.out and "26/26 rows" in out.err
