"""Every write that moves a wallet. `grep -r "def wallet_"` lists them."""

from .backoffice import wallet_adjust, wallet_deposit, wallet_withdraw
from .balances import wallet_balance
from .cashier import cashier_deposit, cashier_withdraw
from .common import WalletResult, wallet_get_or_create_locked
from .credits import CreditRequest, wallet_credit
from .debits import DebitRequest, wallet_debit
from .rollbacks import RollbackRequest, wallet_rollback
from .staff_movements import StaffMoveOutcome, staff_money_move, staff_movement_approve, staff_movement_reject
from .withdrawals import wallet_withdrawal_return, withdrawal_approve, withdrawal_cancel, withdrawal_reject

__all__ = [
    "CreditRequest",
    "DebitRequest",
    "RollbackRequest",
    "StaffMoveOutcome",
    "WalletResult",
    "cashier_deposit",
    "cashier_withdraw",
    "staff_money_move",
    "staff_movement_approve",
    "staff_movement_reject",
    "wallet_adjust",
    "wallet_balance",
    "wallet_credit",
    "wallet_debit",
    "wallet_deposit",
    "wallet_get_or_create_locked",
    "wallet_rollback",
    "wallet_withdraw",
    "wallet_withdrawal_return",
    "withdrawal_approve",
    "withdrawal_cancel",
    "withdrawal_reject",
]
