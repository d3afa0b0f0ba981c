-- Staff list every return newest first, and those escalated to them first of all.
CREATE INDEX returns_created_idx ON returns.returns (created_at DESC, id DESC);
CREATE INDEX returns_escalated_idx ON returns.returns (created_at DESC, id DESC)
    WHERE escalated AND status = 'requested';
