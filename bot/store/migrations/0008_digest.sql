-- Placeholder: this feature's tables land here.
SELECT 1;
