INSERT INTO notifications.templates (key, subject, body) VALUES (
    'password_reset',
    'Reset your Souk password',
    E'Hello,\n\nSomeone (hopefully you) asked to reset the password of your Souk account.\n\nChoose a new password here within {{expires_minutes}} minutes:\n{{reset_link}}\n\nOr send this code with your new password to POST /v1/auth/reset-password:\n{{token}}\n\nIf you did not ask for this, ignore this message: your password stays as it is.\n\nSouk'
)
ON CONFLICT (key) DO NOTHING;
