from casino_platform.errors import DomainError


class RoundClosed(DomainError):
    code = "ROUND_CLOSED"
    http_status = 409
    default_message = "The round is closed."


class RoundNotFound(DomainError):
    code = "ROUND_NOT_FOUND"
    http_status = 404
    default_message = "No such round with an accepted debit."


class SessionNotFound(DomainError):
    code = "SESSION_NOT_FOUND"
    http_status = 401
    default_message = "No such session."


class SessionExpired(DomainError):
    code = "SESSION_EXPIRED"
    http_status = 401
    default_message = "The session has expired."
