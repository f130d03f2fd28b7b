// Course roles as the UI uses them. The server decides every access; these only choose what to show.

import { api } from "./api.js";

/** Course staff: sees drafts and every submission of the course, grades (instructor, TA, admin). */
export function isCourseStaff(role) {
  return role === "instructor" || role === "ta" || role === "admin";
}

/** Edits the course, its assignments and members (instructor, admin). */
export function canManage(role) {
  return role === "instructor" || role === "admin";
}

export const ROLE_LABELS = { instructor: "Instructor", ta: "Teaching assistant", student: "Student", admin: "Admin" };

/** The caller's courses by id ({id: course}). */
export async function myCourses(signal) {
  const courses = await api("/courses", { signal });
  return Object.fromEntries(courses.map((c) => [c.id, c]));
}

/** One course (with my_role), or null when the caller cannot see it. */
export async function courseOf(courseId, signal) {
  if (!courseId) return null;
  return api(`/courses/${encodeURIComponent(courseId)}`, { signal });
}
