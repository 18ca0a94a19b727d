"""Clinical words that spaCy's small English model mistakes for names or places.

A PERSON or LOCATION span made only of these words (numbers and vertebral levels such as
``L2-L3`` count too) is not redacted. The list started from the spans the redactor removed from
de-identified Indiana findings sentences (text with no PHI left in it: "Pulmonary",
"Cardiomegaly", "Emphysema", "Trachea"...) and was widened to their neighbours in the same
vocabulary (anatomy, radiology descriptors, common chest diagnoses, frequent drugs) so that
unseen reports benefit too. Real surnames that are also anatomy ("Chin", "Hand") are left out
on purpose: missing a name costs more than redacting a word.
"""

from __future__ import annotations

_WORDS = """
abdomen abdominal acute airspace airway airways alveolar angle anterior aorta aortic apex apical
apices arch arteries artery atelectasis atrium azygos basal base bases basilar bibasilar bilateral
bony bowel brachiocephalic breast bronchi bronchial bronchiectasis bronchitis bronchovascular bullae
bullous calcification calcifications calcified cardiac cardiomediastinal cardiomegaly cardiopulmonary
carina catheter cavitary cavity cervical chest chronic clavicle clavicles clear collapse consolidation
consolidative contour costophrenic cm cyst degenerative density diaphragm diaphragmatic diffuse
dilated disc discoid displaced dorsal ectasia ectatic edema effusion effusions emphysema emphysematous
endotracheal enlarged enlargement esophageal esophagus fibrosis fibrotic fissure fluid focal followup
fracture fractures gastric granuloma granulomas granulomatous heart hemidiaphragm hemidiaphragms hernia
hiatal hilar hila hilum humeral humerus hyperexpanded hyperinflated hyperinflation hypoinflation
impression infiltrate infiltrates inferior interstitial interval intact iv kyphosis kyphotic lateral
left lesion lingula lingular lobe lobar lower lucency lumbar lung lungs lymph lymphadenopathy
mass mediastinal mediastinum midline mild minimal mm moderate multilobar multifocal negative nipple
nodular nodule nodules normal opacities opacity osseous osteopenia osteophytes pa paratracheal
parenchyma parenchymal pericardial perihilar peribronchial pleural pneumonia pneumonitis pneumothorax
port portable posterior prominence prominent pulmonary rib ribs right sarcoidosis scapula scarring
sclerosis scoliosis severe shoulder silhouette small soft spine spinal spondylosis stable sternal
sternotomy sternum streaky subcutaneous subsegmental superior thoracic thoracolumbar thorax trachea
tracheal tube tuberculosis unchanged upper vascular vascularity vasculature vertebra vertebral wires
xray x-ray
hypertension diabetes copd asthma cancer carcinoma metastasis metastases metastatic lymphoma
lisinopril metformin furosemide warfarin atorvastatin amiodarone simvastatin clarithromycin amlodipine
metoprolol spironolactone apixaban digoxin tiotropium albuterol azithromycin ceftriaxone aspirin
heparin insulin prednisone creatinine hemoglobin potassium sodium glucose troponin
patchy hazy linear reticular reticulonodular ground glass blunting blunted tortuous tortuosity atherosclerotic
granulomatous hyperlucent lucent elevated elevation stent pacemaker leads clips sutures hardware surgical
postoperative postsurgical cholecystectomy thoracotomy lobectomy pneumonectomy wedge resection mastectomy
ventricle ventricular atrial appendage coronary mitral tricuspid valve valvular aneurysm dissection
thyroid goiter liver spleen kidney renal hepatic adrenal pancreas colon stomach gallbladder bladder
sinus sinusitis pharynx larynx neck axilla axillary supraclavicular infraclavicular paraspinal
sepsis fever cough dyspnea hypoxia hypoxemia tachycardia bradycardia syncope chest pain wheezing hemoptysis
fibrillation flutter infarction ischemia embolism thrombosis anticoagulation coumadin eliquis xarelto lasix
zocor lipitor norvasc lopressor toprol aldactone spiriva proventil ventolin zithromax biaxin rocephin lanoxin
cordarone pacerone glucophage zestril prinivil inr bnp ldl hba1c egfr wbc hgb spo2 ecg ekg ct mri cxr pet
preop postop pre-op post-op hyperlipidemia dyslipidemia hypothyroidism obesity bariatric
ultrasound echocardiogram echo angiogram radiograph radiography fluoroscopy
"""
CLINICAL_TERMS: frozenset[str] = frozenset(_WORDS.split())

# Capitalised English words that look like place names to a suffix pattern ("Report" ends in
# "port", "Review" in "view") or like names to spaCy at the start of a sentence.
_COMMON = """
report reports support review reviewed overview preview inside outside bedside aside transport passport
beside alongside worldwide landmark background upstairs downstairs baseline followup follow-up
impression findings indication comparison history technique exam examination procedure plan assessment
summary discharge admission referral message nursing handoff note notes result results lab labs
medications medication allergies allergy vitals diagnosis diagnoses problem problems signed dear thanks
thank regards sincerely hello hi patient pt doctor nurse hospital clinic department radiology cardiology
pulmonology oncology emergency unit floor ward room bed icu ed er pcp today tomorrow yesterday morning
evening overnight daily weekly monthly please call fax email phone address city state zip insurance
member policy encounter visit accession mrn dob age sex male female man woman gentleman lady none no yes
dr mr mrs ms mx miss prof md do rn np pa pa-c lpn bsn msn aprn cnp pharmd phd mbbs
al ak az ar ca co ct de dc fl ga hi id il in ia ks ky la me ma md mi mn ms mo mt ne nv nh nj nm ny nc nd oh ok or pa ri sc sd
tn tx ut vt va wa wv wi wy pr fm mh pw gu vi as mp
stable improved worsening resolved new old prior current recent continue start stop hold increase decrease
"""
COMMON_WORDS: frozenset[str] = frozenset(_COMMON.split())
