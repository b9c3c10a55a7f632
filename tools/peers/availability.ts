/** Whether a real peer (sshd, natlab, ...) can be used here, and if not, why. */
export type Availability = { ok: true } | { ok: false; reason: string };
