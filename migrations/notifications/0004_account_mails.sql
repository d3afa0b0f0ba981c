-- Messages about an account: a welcome; a sign-up with an address that has an account (sent
-- to its owner instead of telling the sign-up form); a lockout, with an unlock link.
INSERT INTO notifications.templates (key, subject, body) VALUES (
    'welcome',
    'Welcome to Souk',
    E'Hello,\n\nyour Souk account for this address is ready. Sign in with it and the password you chose.\n\nIf you did not create it, ignore this message or write to us.\n\nSouk'
), (
    'account_exists',
    'Someone tried to sign up with your address',
    E'Hello,\n\nsomeone tried to create a Souk account with this address, which has one already. If it was you, sign in with your password, or reset it if you forgot it.\n\nIf it was not you, there is nothing to do: no account was created and yours is unchanged.\n\nSouk'
), (
    'account_locked',
    'Your Souk sign-in was locked',
    E'Hello,\n\nthere were too many failed attempts to sign in to your Souk account, so signing in is locked for {{locked_minutes}} minutes.\n\nIf it was you, unlock it now here:\n{{unlock_link}}\n\nOr send this code to POST /v1/auth/unlock:\n{{token}}\n\nIf it was not you, someone may be guessing your password: consider changing it.\n\nSouk'
)
ON CONFLICT (key) DO NOTHING;
