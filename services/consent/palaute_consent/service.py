"""The consent service as one service: its parts by concern, composed, and the operations the
consumers, the web layer, the command line and the background loops call.

- contacts.py: what happens to a ContactClosed event (a plan, or a suppression now);
- releasing.py: the release loop (plans decided again when due) and reminders;
- opt_outs.py: opt-outs by message or by the officer, withdrawing what was released;
- bounces.py: the suppression list of email addresses the mail system bounced;
- requests.py: erasure and access requests, the others' answers, retention;
- workspace.py: the privacy officer's workspace (what its pages and API call);
- results.py: the published figures and funnel, kept for the results page.

The SQL is in the repositories: plans.py, register.py, officers.py, privacy.py, audit.py.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from palaute_consent.anchoring import AuditAnchoring
from palaute_consent.bounces import Bounces
from palaute_consent.contacts import Contacts
from palaute_consent.core import Core
from palaute_consent.opt_outs import OptOuts
from palaute_consent.releasing import Releasing
from palaute_consent.requests import PrivacyRequests
from palaute_consent.results import PublishedResults
from palaute_consent.settings import ConsentSettings
from palaute_consent.workspace import Workspace
from palaute_runtime.clock import Clock


class ConsentService:
    """Decides, plans and releases surveys; keeps the register; files privacy requests."""

    def __init__(self, engine: AsyncEngine, settings: ConsentSettings, clock: Clock) -> None:
        core = Core(engine, settings, clock)
        self.engine, self.settings, self.clock = engine, settings, clock
        self.outbox, self.planned = core.outbox, core.planned
        self.register = core.register
        releasing = Releasing(core)
        contacts = Contacts(core, releasing)
        opt_outs = OptOuts(core)
        requests = PrivacyRequests(core, opt_outs)
        self.workspace = Workspace(core, opt_outs, requests)
        # Consumers
        self.handle_contacts_closed = contacts.handle_contacts_closed
        self.handle_opt_out_requests = opt_outs.handle_opt_out_requests
        self.handle_erasures_completed = requests.handle_erasures_completed
        self.handle_access_reports = requests.handle_access_reports
        self.handle_bounces = Bounces(core).handle_bounces
        self.results = PublishedResults(engine)
        self.handle_figures = self.results.handle_figures
        self.handle_funnel = self.results.handle_funnel
        # The register and privacy requests (the workspace and the command line)
        self.add_opt_out = opt_outs.add_opt_out
        self.remove_opt_out = opt_outs.remove_opt_out
        self.register_opt_out = opt_outs.register_opt_out
        self.file_privacy_request = requests.file_privacy_request
        # Background loops
        self.release_due = releasing.release_due
        self.remind_due = releasing.remind_due
        self.next_release_at = releasing.next_release_at
        self.run_release = releasing.run_release
        self.purge = requests.purge
        anchoring = AuditAnchoring(core)
        self.anchor_audit_chain = anchoring.anchor_once
        self.anchor_and_check_audit_chain = anchoring.anchor_and_check
