"""Small word lists the sample data is made of.

Every word is plain ASCII with no quote, backslash, tab or newline, and none holds the words
``None``, ``True`` or ``False``: the MySQL bulk writer renders whole batches of rows as text
and turns those words into ``NULL``/``1``/``0`` (see :mod:`lms_db.sample.writer`).
"""

from __future__ import annotations

FIRST_NAMES = (
    "Aarav", "Aditi", "Akash", "Ananya", "Arjun", "Bhavna", "Chen", "Deepa", "Diego", "Elena",
    "Farah", "Gaurav", "Hana", "Ishaan", "Isabel", "Jamal", "Kavya", "Kenji", "Lakshmi", "Lucas",
    "Maya", "Meera", "Mohan", "Nadia", "Neha", "Omar", "Priya", "Rahul", "Riya", "Rohan",
    "Sara", "Sanjay", "Sofia", "Tanvi", "Tomas", "Uma", "Varun", "Vikram", "Yara", "Zoya",
)
LAST_NAMES = (
    "Agarwal", "Bose", "Chopra", "Das", "Fernandes", "Garcia", "Gupta", "Iyer", "Joshi",
    "Kapoor", "Khan", "Kumar", "Li", "Mehta", "Menon", "Nair", "Patel", "Pillai", "Rao",
    "Reddy", "Sato", "Shah", "Sharma", "Singh", "Silva", "Tan", "Verma", "Wang", "Yadav", "Zhang",
)
SUBJECTS = (
    "Python", "SQL", "Data Science", "Machine Learning", "Web Development", "React", "Design",
    "Marketing", "Finance", "Statistics", "Cloud Computing", "Kubernetes", "Photography",
    "Public Speaking", "Product Management", "Cyber Security", "Excel", "Writing", "Java", "Go",
)
LEVEL_WORDS = ("Fundamentals of", "Practical", "Advanced", "Mastering", "Hands-on",
               "Introduction to", "Complete", "Modern")
TOPIC_WORDS = (
    "basics", "setup", "variables", "functions", "modules", "testing", "deployment", "design",
    "patterns", "performance", "security", "data", "queries", "indexes", "projects", "review",
    "tools", "workflow", "debugging", "practice",
)
LOREM = (
    "learn", "build", "apply", "understand", "practice", "explore", "course", "lesson", "skill",
    "project", "example", "simple", "clear", "useful", "step", "real", "world", "team", "fast",
    "careful", "design", "data", "code", "review", "ideas", "method", "result", "question",
)
OCCUPATIONS = ("Student", "Engineer", "Analyst", "Teacher", "Designer", "Manager", "Consultant",
               "Researcher", "Developer", "Accountant")
COUNTRIES = ("IN", "US", "GB", "DE", "SG", "AE", "CA", "AU", "BR", "JP")
CITIES = ("Mumbai", "Bengaluru", "Delhi", "Pune", "Chennai", "London", "Berlin", "Singapore",
          "Toronto", "Sydney")
BROWSERS = ("Chrome", "Firefox", "Safari", "Edge")
OSES = ("Windows", "macOS", "Linux", "Android", "iOS")
TIMEZONES = ("UTC", "Asia/Kolkata", "Europe/London", "America/New_York", "Asia/Singapore")
LOCALES = ("en", "hi", "de", "es", "ja")
CATEGORIES = (
    ("Development", ("Web Development", "Mobile Development", "Programming Languages")),
    ("Data", ("Data Science", "Databases", "Machine Learning")),
    ("Business", ("Finance", "Marketing", "Management")),
    ("Design", ("Graphic Design", "UX Design")),
    ("IT and Software", ("Cloud", "Security", "Networking")),
)
EVENT_TYPES = ("page_view", "video_play", "video_pause", "quiz_start", "quiz_submit",
               "lesson_complete", "search")
