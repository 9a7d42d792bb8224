from casino_platform.errors import DomainError


class PlayerNotFound(DomainError):
    code = "PLAYER_NOT_FOUND"
    http_status = 404
    default_message = "No such player."


class PlayerBlocked(DomainError):
    code = "PLAYER_BLOCKED"
    http_status = 403
    default_message = "The player is blocked."


class ResponsibleGamblingLimit(DomainError):
    code = "RG_LIMIT"
    http_status = 403
    default_message = "A responsible-gambling limit refuses this bet."


class KycRequired(DomainError):
    code = "KYC_REQUIRED"
    http_status = 403
    default_message = "The player's identity is not verified: no payout until it is."
