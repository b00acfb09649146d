-- How to reach a pod's machine, as its provider reports it once the machine runs
-- (RunPod, Vast.ai, Lambda); all empty for demo-market pods.
ALTER TABLE pods ADD COLUMN ssh_host TEXT;
ALTER TABLE pods ADD COLUMN ssh_port BIGINT CHECK (ssh_port BETWEEN 1 AND 65535);
ALTER TABLE pods ADD COLUMN ssh_user TEXT;
ALTER TABLE pods ADD COLUMN jupyter_url TEXT;
