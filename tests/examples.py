"""Example values shared by tests."""

# A well-formed public host key line (it belongs to no real host).
EXAMPLE_HOST_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmDCNUfA2wM0QU7Hf6UaLXQy+pNdoisoyr/PE1ctZ83"
)
