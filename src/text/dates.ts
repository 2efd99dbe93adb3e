/** The school year (1 July to 30 June) a date falls in, for sources that leave it open. */
export function schoolYearAround(day: string): { startDate: string; endDate: string } {
  const year = Number(day.slice(0, 4)) - (Number(day.slice(5, 7)) < 7 ? 1 : 0);
  return { startDate: `${year}-07-01`, endDate: `${year + 1}-06-30` };
}

/** `zone` if this runtime knows it (an IANA name a source sent), else `fallback`. */
export function zoneOr(zone: string | null | undefined, fallback: string): string {
  try {
    if (zone) return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch { /* unknown zone */ }
  return fallback;
}

/** A timestamp (any ISO 8601 form: offsets, fractions, Z) as the calendar date it falls on in `zone`; undefined if absent or unreadable. */
export function dateIn(zone: string): (timestamp: string | null | undefined) => string | undefined {
  const format = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' });
  return (timestamp) => {
    if (!timestamp) return undefined;
    const at = new Date(timestamp);
    return Number.isNaN(at.getTime()) ? undefined : format.format(at);
  };
}
