"""reconciler: Terraform-style plan/apply for the contacts of a LiveDesk help desk."""

__version__ = "0.1.0"
