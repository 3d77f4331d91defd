"""leadloop.mail.send_mail against a real SMTP server (aiosmtpd) that does not offer SMTPUTF8,
as some do not: an internationalized domain still arrives (in IDNA on the RCPT line), a
non-ASCII name before the @ and an address no server could take are refused for good (not
retried for ever), and the other recipients of the same mail still get it."""

import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from leadloop.mail import send_mail
from leadloop.settings import MailingServiceSettings

pytestmark = [pytest.mark.asyncio, pytest.mark.integration]


class Recorder:
    """Accepts every recipient and keeps the RCPT addresses of each message."""

    def __init__(self) -> None:
        self.rcpt_tos: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.rcpt_tos.append(list(envelope.rcpt_tos))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


async def test_each_recipient_gets_the_mail_or_a_lasting_refusal(
        smtp_server: tuple[Recorder, int]) -> None:
    recorder, port = smtp_server
    settings = MailingServiceSettings(service_name="capture", smtp_port=port, dev_mode=True)
    message = EmailMessage()
    message["From"], message["Subject"] = settings.mail_from, "Please confirm"
    message.set_content("Hello")
    delivery = await send_mail(settings, message, [
        "sam@widgets.example", "jörg@widgets.example", "ana@bücher.example",
        "eve\x1e@widgets.example"])

    assert sorted(delivery.delivered) == ["ana@bücher.example", "sam@widgets.example"]
    assert recorder.rcpt_tos == [["sam@widgets.example", "ana@xn--bcher-kva.example"]]
    assert sorted(delivery.refused) == ["eve\x1e@widgets.example", "jörg@widgets.example"]
    assert "SMTPUTF8" in delivery.refused["jörg@widgets.example"]
    assert delivery.pending == {}
