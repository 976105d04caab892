"""reconciler: Terraform-style plan/apply for help-desk contacts: LiveDesk, Chatwoot."""

__version__ = "0.1.0"
