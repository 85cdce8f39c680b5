package ehrkit

import "fmt"

// Person is a patient as an EHR's chart knows them.
type Person struct {
	First, Middle, Last string
	// Preferred is the name the patient goes by, when it is not First.
	Preferred string
	Gender    string
	DOB       string // YYYY-MM-DD
	Phone     string
}

// Patients is the EHR-side roster: the Nextvisit sandbox's patients (sync/sandbox/seed.go) as a chart
// would hold them, with the small differences real charts have (a middle initial for a middle name,
// accents dropped, a nickname, a spelling), two patients only the EHR has, and one Nextvisit patient
// (Leilani Kahale) it lacks, so matching has real work to do. Deterministic.
func Patients() []Person {
	ps := []Person{
		{First: "Jane", Middle: "M.", Last: "Doe", Gender: "female", DOB: "1985-03-15"},
		{First: "Amara", Middle: "N.", Last: "Okonkwo", Gender: "female", DOB: "1992-07-08"},
		{First: "Hiroshi", Last: "Tanaka", Gender: "male", DOB: "1978-11-23"},
		{First: "Sofia", Middle: "I.", Last: "Garcia", Gender: "female", DOB: "2001-02-14"},
		{First: "Mohamed", Last: "Al-Sayed", Preferred: "Mo", Gender: "male", DOB: "1969-05-30"},
		{First: "Priya", Last: "Raman", Gender: "female", DOB: "1988-09-12"},
		{First: "Liam", Middle: "P.", Last: "O'Brien", Gender: "male", DOB: "1995-12-01"},
		{First: "Wei", Last: "Chen", Gender: "male", DOB: "1983-04-19"},
		{First: "Fatima", Middle: "Z.", Last: "Benali", Gender: "female", DOB: "1990-06-25"},
		{First: "Dmitri", Last: "Volkov", Gender: "male", DOB: "1975-01-09"},
		{First: "Aiyana", Last: "Redcloud", Gender: "female", DOB: "2003-10-31"},
		{First: "Kwame", Last: "Mensah", Gender: "male", DOB: "1987-08-17"},
		{First: "Ingrid", Last: "Johansson", Gender: "female", DOB: "1962-03-03"},
		{First: "Mateo", Middle: "A.", Last: "Rossi", Gender: "male", DOB: "1999-07-22"},
		{First: "Lan", Middle: "T.", Last: "Nguyen", Gender: "female", DOB: "1980-12-11"},
		{First: "Jordan", Middle: "A.", Last: "Taylor", Gender: "other", DOB: "1997-05-05"},
		{First: "Ewa", Last: "Kowalska", Gender: "female", DOB: "1971-09-29"},
		{First: "Rafael", Last: "Souza", Gender: "male", DOB: "1993-02-02"},
		{First: "Yasmin", Last: "Haddad", Gender: "female", DOB: "2000-11-15"},
		{First: "Oluwaseun", Last: "Adeyemi", Preferred: "Seun", Gender: "male", DOB: "1984-06-06"},
		{First: "Grace", Last: "Kim", Gender: "female", DOB: "1958-08-08"},
		{First: "Tomas", Middle: "A.", Last: "Herrera", Gender: "male", DOB: "1966-04-04"},
		{First: "Zoe", Last: "Mueller", Gender: "female", DOB: "1991-10-10"},
		{First: "Arjun", Last: "Mehta", Gender: "male", DOB: "1986-01-20"},
		{First: "Samuel", Last: "Levi", Preferred: "Sam", Gender: "male", DOB: "1973-07-14"},
		{First: "Harold", Last: "Briggs", Gender: "male", DOB: "1955-02-28"},
		{First: "Nadia", Last: "Petrova", Gender: "female", DOB: "1998-12-19"},
	}
	for i := range ps {
		ps[i].Phone = fmt.Sprintf("555-01%02d", i+1)
	}
	return ps
}
