from casino_platform.errors import DomainError


class IdempotencyMismatch(DomainError):
    code = "IDEMPOTENCY_MISMATCH"
    http_status = 409
    default_message = "This transaction_id was already used with a different payload."


class UnbalancedTransaction(DomainError):
    """A programming error: legs that do not sum to zero per currency."""

    code = "UNBALANCED_TRANSACTION"
    http_status = 500
