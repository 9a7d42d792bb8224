"""Withdrawals with a reference get a row of their own, with their state (pending review,
approved, rejected, cancelled, returned). Those made before it, all paid at once, are
recorded from the journal: returned if a return reverses them, approved otherwise."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0010_currency_withdrawal_review'),
        ('wallet', '0009_credit_v2'),
    ]

    operations = [
        migrations.CreateModel(
            name='Withdrawal',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('reference', models.CharField(help_text="The payment system's reference.", max_length=128, unique=True)),
                ('amount', models.BigIntegerField(help_text="Minor units of the wallet's currency.")),
                ('status', models.CharField(choices=[('pending', 'Pending review'), ('approved', 'Approved (to be paid)'), ('rejected', 'Rejected by staff'), ('cancelled', 'Cancelled by the operator'), ('returned', 'Returned (payout failed)')], max_length=16)),
                ('review_reason', models.CharField(blank=True, help_text='Why it waited for staff: empty for one paid at once.', max_length=200)),
                ('requested_by', models.CharField(max_length=150)),
                ('requested_at', models.DateTimeField()),
                ('decided_by', models.CharField(blank=True, help_text='Who approved, rejected or cancelled it.', max_length=150)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_memo', models.CharField(blank=True, max_length=200)),
                ('approval_journal', models.OneToOneField(blank=True, help_text='withdrawals_pending -> cash_out, when staff approved a withdrawal that waited.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='withdrawal_approved', to='ledger.journaltransaction')),
                ('request_journal', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='withdrawal_requested', to='ledger.journaltransaction')),
                ('reversal_journal', models.OneToOneField(blank=True, help_text='The money back in the wallet: rejected, cancelled, or returned after a failed payout.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='withdrawal_reversed', to='ledger.journaltransaction')),
                ('wallet', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='withdrawals', to='wallet.wallet')),
            ],
            options={
                'ordering': ['-requested_at', '-id'],
                'permissions': [('review_withdrawal', 'Can approve or reject withdrawals')],
                'indexes': [models.Index(condition=models.Q(('status', 'pending')), fields=['requested_at'], name='withdrawal_pending_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='withdrawal_amount_positive'), models.CheckConstraint(condition=models.Q(models.Q(('approval_journal__isnull', True), ('reversal_journal__isnull', True), ('status', 'pending')), models.Q(('reversal_journal__isnull', True), ('status', 'approved'), models.Q(('review_reason', ''), ('approval_journal__isnull', False), _connector='OR')), models.Q(('approval_journal__isnull', True), ('status__in', ['rejected', 'cancelled']), ('reversal_journal__isnull', False)), models.Q(('reversal_journal__isnull', False), ('status', 'returned'), models.Q(('review_reason', ''), ('approval_journal__isnull', False), _connector='OR')), _connector='OR'), name='withdrawal_status_journals')],
            },
        ),
        migrations.RunSQL(
            sql="""
            INSERT INTO wallet_withdrawal (reference, wallet_id, amount, status, review_reason, requested_by,
                requested_at, request_journal_id, decided_by, decision_memo, reversal_journal_id)
            SELECT j.provider_transaction_id, w.id, -e.amount,
                CASE WHEN r.id IS NULL THEN 'approved' ELSE 'returned' END,
                '', j.created_by, j.created_at, j.id, '', '', r.id
            FROM ledger_journaltransaction j
            JOIN ledger_entry e ON e.transaction_id = j.id
            JOIN wallet_wallet w ON w.account_id = e.account_id
            LEFT JOIN ledger_journaltransaction r ON r.reverses_id = j.id
            WHERE j.kind = 'withdrawal' AND j.provider_code = 'backoffice'
                AND j.provider_transaction_id <> '' AND j.reverses_id IS NULL
            """,
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
