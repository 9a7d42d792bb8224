from casino_platform.errors import DomainError


class InsufficientFunds(DomainError):
    code = "INSUFFICIENT_FUNDS"
    http_status = 402
    default_message = "The wallet balance is too low for this debit."


class CurrencyMismatch(DomainError):
    code = "CURRENCY_MISMATCH"
    http_status = 422
    default_message = "The currency does not match the session, round or wallet."


class RollbackNotAllowed(DomainError):
    code = "ROLLBACK_NOT_ALLOWED"
    http_status = 409
    default_message = "This transaction cannot be rolled back."


class TransactionRolledBack(DomainError):
    code = "TRANSACTION_ROLLED_BACK"
    http_status = 409
    default_message = "A rollback for this transaction_id arrived first; the debit is refused."


class WithdrawalNotFound(DomainError):
    code = "WITHDRAWAL_NOT_FOUND"
    http_status = 404
    default_message = "No withdrawal of this player with this reference."


class WithdrawalNotAllowed(DomainError):
    code = "WITHDRAWAL_NOT_ALLOWED"
    http_status = 409
    default_message = "The withdrawal is not in a state that allows this."


class FourEyesRequired(DomainError):
    code = "FOUR_EYES_REQUIRED"
    http_status = 403
    default_message = "A movement waiting for a second approval is approved by someone other than who asked for it."


class StaffMovementNotAllowed(DomainError):
    code = "STAFF_MOVEMENT_NOT_ALLOWED"
    http_status = 409
    default_message = "The staff movement is not in a state that allows this."


class AlertAlreadyDecided(DomainError):
    code = "ALERT_ALREADY_DECIDED"
    http_status = 409
    default_message = "The monitoring alert has been cleared or reported already."


class WebhookNotSet(DomainError):
    """Staff asked to send withdrawal events with CASHIER_WEBHOOK_URL empty (the admin only):
    queued, they would fail every attempt and be flagged."""

    code = "WEBHOOK_NOT_SET"
    http_status = 409
    default_message = "CASHIER_WEBHOOK_URL is not set: there is nowhere to send withdrawal events."
