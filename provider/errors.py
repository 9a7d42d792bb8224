from casino_platform.errors import DomainError


class GameNotFound(DomainError):
    code = "GAME_NOT_FOUND"
    http_status = 404
    default_message = "No such game, or it is disabled."
