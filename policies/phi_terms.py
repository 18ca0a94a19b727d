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
"""
CLINICAL_TERMS: frozenset[str] = frozenset(_WORDS.split())
