/** The school year (1 July to 30 June) a date falls in, for sources that leave it open. */
export function schoolYearAround(day: string): { startDate: string; endDate: string } {
  const year = Number(day.slice(0, 4)) - (Number(day.slice(5, 7)) < 7 ? 1 : 0);
  return { startDate: `${year}-07-01`, endDate: `${year + 1}-06-30` };
}
