"""Certificates for `https` ports: the server's own self-signed one, or the stack's.

A stack brings its certificate as two stack variables (best marked secret), PEM text:
`C66D_TLS_CERT` (the certificate, intermediates after it) and `C66D_TLS_KEY` (its private key).
Without them, or when they do not parse, the server's self-signed certificate is served.
Files go to the server as one PEM each (key + certificate, mode 0600), named by their content,
so a new certificate never overwrites the one a working configuration uses.
"""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

STACK_CERT = "C66D_TLS_CERT"
STACK_KEY = "C66D_TLS_KEY"
VALID_DAYS = 3650

# Writes stdin to FOLDER/NAME unless that file is there already: umask 077, so 0600 files in
# a 0700 folder; written aside and moved, so nginx never reads half a file.
WRITE_SCRIPT = r"""
umask 077; dir=$1; file=$1/$2
[ -s "$file" ] && exit 0
mkdir -p "$dir" && chmod 700 "$dir" || exit 4
cat > "$file.part" && chmod 600 "$file.part" && mv -f "$file.part" "$file" || exit 4
"""


def write_argv(folder: str, name: str) -> list[str]:
    return ["sh", "-c", WRITE_SCRIPT, "c66d-tls", folder, name]


def self_signed(common_name: str) -> str:
    """A new EC P-256 key and a self-signed certificate for it, as one PEM text."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "c66d")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name[:253])]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return (pem_key + cert.public_bytes(serialization.Encoding.PEM)).decode()


def stack_pem(env: dict[str, str]) -> tuple[str, str]:
    """(key + certificate PEM, "") from the stack's variables; ("", why) when they are
    missing or do not parse (the caller serves the server's own certificate)."""
    cert_text, key_text = env.get(STACK_CERT, "").strip(), env.get(STACK_KEY, "").strip()
    if not cert_text and not key_text:
        return "", ""
    if not cert_text or not key_text:
        return "", f"set both {STACK_CERT} and {STACK_KEY}"
    try:
        certs = x509.load_pem_x509_certificates(cert_text.encode())
        key = serialization.load_pem_private_key(key_text.encode(), password=None)
    except ValueError as exc:
        return "", f"{STACK_CERT}/{STACK_KEY} do not parse as PEM: {exc}"
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    if certs[0].public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo
                                          ) != public:
        return "", f"{STACK_KEY} is not the key of the first certificate in {STACK_CERT}"
    return key_text + "\n" + cert_text + "\n", ""


def pem_name(stack: str, pem: str) -> str:
    """The file name of a stack's PEM on a server: its content's digest in it."""
    return f"{stack}-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
