"""Example values shared by tests."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# A well-formed public host key line (it belongs to no real host).
EXAMPLE_HOST_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmDCNUfA2wM0QU7Hf6UaLXQy+pNdoisoyr/PE1ctZ83"
)


def example_private_key() -> str:
    """A new ed25519 private key in OpenSSH format, as ``ssh-keygen`` writes it."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )
