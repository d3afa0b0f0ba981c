-- Reset mails carried their token in the stored copy; the token and link are secrets now
-- (rendered only into the mail sent). Redact the copies kept before.
UPDATE notifications.messages
   SET body = '[redacted: a password reset mail; its link is not kept]', updated_at = now()
 WHERE template = 'password_reset';
