from casino_platform.errors import DomainError


class GameNotFound(DomainError):
    code = "GAME_NOT_FOUND"
    http_status = 404
    default_message = "No such game, or it is disabled."


class UnknownProvider(DomainError):
    code = "UNKNOWN_PROVIDER"
    http_status = 401
    default_message = "Unknown provider (X-Provider-Id)."


class InvalidSignature(DomainError):
    code = "INVALID_SIGNATURE"
    http_status = 401
    default_message = "The signature does not match the request."


class StaleTimestamp(DomainError):
    code = "STALE_TIMESTAMP"
    http_status = 401
    default_message = "X-Timestamp is missing or too far from the platform's clock."


class IpNotAllowed(DomainError):
    code = "IP_NOT_ALLOWED"
    http_status = 403
    default_message = "This address is not on the provider's allow-list."


class ProviderDisabled(DomainError):
    code = "PROVIDER_DISABLED"
    http_status = 403
    default_message = "The provider is disabled."


class PayloadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413
    default_message = "The request body is over 64 KiB."


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    http_status = 429
    retryable = True
    default_message = "Too many requests; retry after the time in Retry-After."
