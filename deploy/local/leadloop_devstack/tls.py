"""A throwaway certificate authority and a broker certificate, made at start-up for the local
broker's SASL_SSL listener (the opt-in mode that behaves like a managed Kafka)."""

import datetime
import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class BrokerTls:
    """What the broker and its clients need: the CA (clients trust it) and the broker's
    PKCS#12 keystore with its password."""

    ca_file: Path
    keystore: Path
    keystore_password: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_broker_tls(directory: Path, host: str) -> BrokerTls:
    """A new CA and a certificate for `host` (an IP or a name) signed by it, in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=30))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("LeadLoop local CA"))
          .issuer_name(_name("LeadLoop local CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(valid[0]).not_valid_after(valid[1])
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    try:
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        names = [x509.DNSName(host)]
    names.append(x509.DNSName("localhost"))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(valid[0]).not_valid_after(valid[1])
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    password = secrets.token_urlsafe(16)
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    keystore = directory / "broker.p12"
    keystore.write_bytes(pkcs12.serialize_key_and_certificates(
        b"broker", key, cert, [ca],
        serialization.BestAvailableEncryption(password.encode())))
    keystore.chmod(0o600)
    return BrokerTls(ca_file, keystore, password)
