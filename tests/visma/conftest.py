"""Fixtures the Visma tests share: a connected, spec-checked client and one customer."""

from __future__ import annotations

import pytest

from clients.visma import VismaClient
from tests.conftest import Sandbox
from tests.spec_check import SpecChecker
from tests.visma.support import connect, customer_body


@pytest.fixture
def client(sandbox: Sandbox, visma_spec: SpecChecker) -> VismaClient:
    client, _ = connect(sandbox, visma_spec)
    return client


@pytest.fixture
def customer_id(client: VismaClient) -> str:
    return client.create_customer(customer_body()).Id or ""
