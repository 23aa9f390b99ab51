"""The closed list of roles a key can carry."""

from enum import StrEnum


class Role(StrEnum):
    CLIENT = "client"  # case management front ends
    OFFICER = "officer"  # compliance officers
    SCIENTIST = "scientist"  # data scientists
    AUDITOR = "auditor"  # read-only audit
    ADMIN = "admin"  # everything
